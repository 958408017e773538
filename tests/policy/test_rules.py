from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from distillguard.config import ConfigError
from distillguard.policy.rules import (
    DEFAULT_RULES,
    Facts,
    PolicyConfig,
    evaluate,
    load_policy,
)
from distillguard.policy.snapshot import DecisionCache, DecisionSnapshot, Subject
from distillguard.store.decisions import DecisionStore


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "score": 0.0,
        "account_score": 0.0,
        "campaign_score": 0.0,
        "flagged": False,
        "in_campaign": False,
        "requests": 10,
    }
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def test_default_ladder_never_blocks_on_its_own() -> None:
    policy = PolicyConfig()
    assert evaluate(policy, facts()) is None
    assert evaluate(policy, facts(score=0.4)) == ("flag", "rule watch")
    assert evaluate(policy, facts(score=0.55, flagged=True))[0] == "throttle"  # type: ignore[index]
    assert evaluate(policy, facts(score=0.8, flagged=True))[0] == "degrade"  # type: ignore[index]
    worst = facts(
        score=1.0,
        campaign_score=1.0,
        flagged=True,
        in_campaign=True,
        intel_kinds=frozenset({"cidr"}),
    )
    assert evaluate(policy, worst) == ("review", "rule review-campaign")
    assert all(r.action != "block" for r in DEFAULT_RULES)


def test_conditions_are_anded_and_meta_and_signals_work(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        """
policy:
  rules:
    - name: new-reseller-cot
      when:
        signals: {elicitation: {gte: 0.8}}
        account_meta:
          signup_channel: {in: [reseller, self_serve]}
          account_age_days: {lt: 7}
      action: block
    - name: peer-payment
      when: {intel: [payment_sha256]}
      action: degrade
"""
    )
    policy = load_policy(path)
    young = {"signup_channel": "reseller", "created_at": time.time() - 86_400}
    hit = facts(signals={"elicitation": 0.9}, account_meta=young)
    assert evaluate(policy, hit) == ("block", "rule new-reseller-cot")
    old = {"signup_channel": "reseller", "created_at": time.time() - 30 * 86_400}
    assert evaluate(policy, facts(signals={"elicitation": 0.9}, account_meta=old)) is None
    assert evaluate(policy, facts(signals={"elicitation": 0.5}, account_meta=young)) is None
    assert evaluate(policy, facts(intel_kinds=frozenset({"cidr"}))) is None
    assert evaluate(policy, facts(intel_kinds=frozenset({"payment_sha256"})))[0] == "degrade"  # type: ignore[index]


@pytest.mark.parametrize(
    "text",
    [
        "policy: {mode: loud}",
        "policy: {rules: [{name: x, when: {score: {gte: 0.5}}, action: nuke}]}",
        "policy: {rules: [{name: x, when: {colour: red}, action: block}]}",
        "policy: [unclosed",
    ],
)
def test_invalid_policy_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="policy"):
        load_policy(path)


def test_policy_file_hot_reloads_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("policy: {mode: shadow}")
    cache = DecisionCache(DecisionStore(tmp_path / "d.sqlite"), path)
    modes = [cache.policy.mode]
    path.write_text("policy: {mode: enforce, intel_boost: 0.5}")
    _touch_later(path)
    cache.refresh()
    modes.append(cache.policy.mode)
    assert cache.policy.intel_boost == 0.5
    path.write_text("policy: {mode: sideways}")
    _touch_later(path)
    cache.refresh()  # logged, not raised: the gateway keeps enforcing the previous policy
    modes.append(cache.policy.mode)
    assert modes == ["shadow", "enforce", "enforce"]


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))


def test_snapshot_matches_every_kind_of_target(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "d.sqlite")
    for kind, target in [
        ("account", "a1"),
        ("key", "k9"),
        ("campaign", "camp_1"),
        ("cidr", "10.1.2.0/24"),
        ("cidr", "10.9.0.0/16"),
        ("cidr", "2001:db8:5::/48"),
        ("payment", "card"),
        ("client", "00ff"),
        ("template", "12345"),
    ]:
        store.add_action(kind, target, "block", reason=f"{kind} test", actor="t")
    snap = DecisionSnapshot.build(store.actions(), [], [])

    def kinds(**kw: object) -> set[str]:
        subject = Subject(**{"account_id": "x", "api_key_id": "y", "ip": "192.0.2.1", **kw})  # type: ignore[arg-type]
        return {a.target_kind for a in snap.matches(subject)}

    assert kinds() == set()
    assert kinds(account_id="a1") == {"account"}
    assert kinds(api_key_id="k9") == {"key"}
    assert kinds(campaign_id="camp_1") == {"campaign"}
    assert kinds(ip="10.1.2.200") == {"cidr"}
    assert kinds(ip="10.9.77.1") == {"cidr"}  # a /16 by containment
    assert kinds(ip="2001:db8:5:1::9") == {"cidr"}
    assert kinds(ip="not-an-ip") == set()
    assert kinds(payment="card", client="00ff", templates=("1", "12345")) == {
        "payment",
        "client",
        "template",
    }
