from __future__ import annotations

from distillguard.campaigns.linker import Linker


def test_a_flag_survives_merging_into_a_bigger_group() -> None:
    linker = Linker()
    for a in ("a1", "a2"):
        linker.add_key(a, ("payment", "PA"))
    linker.stats(linker.root("a1")).flagged_ts = 100.0
    for b in ("b1", "b2", "b3"):
        linker.add_key(b, ("payment", "PB"))
    linker.add_key("a1", ("payment", "PB"))  # joins the bigger, unflagged group
    root, stats = linker.campaign_of("a2")
    assert root == linker.root("b1") and stats.accounts == 5
    assert stats.flagged_ts == 100.0


def test_rotating_proxies_do_not_use_up_the_key_budget() -> None:
    linker = Linker()
    for i in range(11):
        linker.add_key("proxy-user", ("network", f"203.0.{i}.0/24"))
    linker.add_key("other", ("scaffold", 42))
    linker.add_key("other", ("network", "203.0.0.0/24"))
    assert linker.add_key("proxy-user", ("scaffold", 42))  # scaffold + network: linked
    assert linker.root("proxy-user") == linker.root("other")


def test_weak_evidence_alone_never_links() -> None:
    linker = Linker()
    for a in ("s1", "s2"):
        linker.add_key(a, ("network", "192.0.2.0/24"))
        linker.add_key(a, ("system", 7))
        linker.add_key(a, ("signature", 9))
    assert linker.root("s1") != linker.root("s2")
