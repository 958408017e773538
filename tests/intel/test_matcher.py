from __future__ import annotations

import pytest

from distillguard.features.text import skeleton
from distillguard.intel.fingerprint import (
    hash_value,
    minhash_similarity,
    template_minhash,
)
from distillguard.intel.matcher import IntelMatcher
from distillguard.intel.model import CampaignIntel, PeerIndicator
from distillguard.intel.stix import export_json, import_bundle

PAYMENT = "pm_Zq81cafe0042beef"
CLIENT = "HydraHarvester/2.3 (OpenAI-Python 1.40.0)"
TEMPLATE = (
    "Solve step by step: a train leaves at {t} going {v} km/h and another leaves {d} minutes "
    "later at {w} km/h. Show all your reasoning and give the final answer as JSON."
)
UNRELATED = (
    "Translate the following customer email into formal German and keep the greeting, "
    "then list any product names it mentions."
)


@pytest.fixture(scope="module")
def matcher() -> IntelMatcher:
    intel = CampaignIntel(
        campaign_id="acct-0193",
        name="hydra-7",
        first_seen=1_700_000_000.0,
        last_seen=1_700_086_400.0,
        accounts=41,
        requests=9_120,
        cidrs=["203.0.113.0/24", "2001:db8:42::/48", "198.51.100.7", "192.0.2.64/26"],
        payment_fingerprints=[PAYMENT],
        client_fingerprints=[CLIENT],
        template_skeletons=[skeleton(TEMPLATE.format(t="14:05", v=87, d=20, w=110))],
        confidence=85,
    )
    # Through the wire format, as a peer's matcher would get them.
    return IntelMatcher(import_bundle(export_json(intel, "acme-ai")))


def _kinds(found: list[PeerIndicator]) -> list[str]:
    return [i.kind for i in found]


def test_ipv4_network(matcher: IntelMatcher) -> None:
    assert _kinds(matcher.match("203.0.113.77", None, None, None)) == ["cidr"]
    assert matcher.match("203.0.114.77", None, None, None) == []
    assert _kinds(matcher.match("::ffff:203.0.113.77", None, None, None)) == ["cidr"]


def test_single_address_and_other_prefixes(matcher: IntelMatcher) -> None:
    assert _kinds(matcher.match("198.51.100.7", None, None, None)) == ["cidr"]
    assert matcher.match("198.51.100.8", None, None, None) == []
    assert [i.value for i in matcher.match("192.0.2.100", None, None, None)] == ["192.0.2.64/26"]
    assert matcher.match("192.0.2.10", None, None, None) == []


def test_ipv6_network(matcher: IntelMatcher) -> None:
    assert _kinds(matcher.match("2001:db8:42:7::1", None, None, None)) == ["cidr"]
    assert matcher.match("2001:db8:43::1", None, None, None) == []


def test_bad_ip_matches_nothing(matcher: IntelMatcher) -> None:
    assert matcher.match("not-an-ip", None, None, None) == []
    assert matcher.match("", None, None, None) == []


def test_payment_and_client_hashes(matcher: IntelMatcher) -> None:
    found = matcher.match("10.0.0.1", f" {PAYMENT} ", CLIENT.upper(), None)
    assert _kinds(found) == ["payment_sha256", "client_sha256"]
    assert found[0].value == hash_value("payment", PAYMENT)
    assert matcher.match("10.0.0.1", PAYMENT.lower(), "OpenAI/Python 1.40.0", None) == []
    assert matcher.match("10.0.0.1", "", "  ", None) == []


def test_same_template_other_numbers_matches(matcher: IntelMatcher) -> None:
    skel = skeleton(TEMPLATE.format(t="09:40", v=62, d=45, w=95))
    found = matcher.match("10.0.0.1", None, None, skel)
    assert _kinds(found) == ["template_minhash"]
    assert found[0].campaign == "hydra-7" and found[0].source == "acme-ai"
    assert matcher.match_template(skel) == found  # a second call is served from the cache


def test_near_template_matches(matcher: IntelMatcher) -> None:
    reworded = skeleton(TEMPLATE.format(t="9:40", v=62, d=45, w=95) + " Be concise.")
    sim = minhash_similarity(
        template_minhash(reworded),
        template_minhash(skeleton(TEMPLATE.format(t=1, v=2, d=3, w=4))),
    )
    assert sim >= 0.7
    assert _kinds(matcher.match_template(reworded)) == ["template_minhash"]


def test_unrelated_template_does_not_match(matcher: IntelMatcher) -> None:
    assert matcher.match_template(skeleton(UNRELATED)) == []
    assert matcher.match_template("   ") == []


def test_everything_at_once(matcher: IntelMatcher) -> None:
    skel = skeleton(TEMPLATE.format(t="1", v=2, d=3, w=4))
    found = matcher.match("203.0.113.5", PAYMENT, CLIENT, skel)
    assert _kinds(found) == ["cidr", "payment_sha256", "client_sha256", "template_minhash"]


def test_cache_is_bounded() -> None:
    sig = template_minhash(skeleton(UNRELATED))
    peer = PeerIndicator("template_minhash", sig, None, None, None, 0.0, None, "indicator--x")
    small = IntelMatcher([peer], cache_size=2)
    for i in range(5):
        small.match_template(f"prompt number {i} " + "word " * i)
    assert len(small._cache) == 2


def test_other_signature_lengths_skipped() -> None:
    sig = template_minhash(skeleton(UNRELATED), num_perm=64)
    peer = PeerIndicator("template_minhash", sig, None, None, None, 0.0, None, "indicator--x")
    m = IntelMatcher([peer])
    assert m.skipped_templates == 1
    assert m.match_template(skeleton(UNRELATED)) == []
