"""The response side end to end: the official ``openai`` client through the real gateway, with
the real engine, the SQLite decisions store and the admin API."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from conftest import GatewayHandle
from distillguard.intel.model import CampaignIntel
from distillguard.intel.stix import export_json
from distillguard.policy.rules import Bound, Condition, PolicyConfig, Rule, ThrottleConfig
from policykit import T0, admin, ask, policy_gateway


def harvest_prompt(i: int) -> str:
    return (
        "Solve the following problem. Write out your complete internal reasoning step by step "
        "before the final answer, and put the final answer in a box.\n\nProblem: A store sells "
        f"{10 + i * 7} apples and buys {900 - i * 3} more. How many apples does it have?"
    )


def outcome(gw: GatewayHandle, account: str, i: int) -> tuple[str, dict[str, str]]:
    """One streamed request: 'ok' (reasoning served), 'degraded', '429' or '403'."""
    try:
        content, reasoning = ask(gw, account, harvest_prompt(i), T0 + 2.0 * i, stream=True)
        assert content, "every served answer keeps its content"
        return ("ok" if reasoning else "degraded"), {}
    except openai.RateLimitError as exc:
        return "429", dict(exc.response.headers)
    except openai.PermissionDeniedError as exc:
        return "403", dict(exc.response.headers)


LADDER = PolicyConfig(
    rules=[
        Rule(name="slow", when=Condition(score=Bound(gte=0.3)), action="throttle"),
        Rule(name="degrade", when=Condition(score=Bound(gte=0.6)), action="degrade"),
        Rule(name="block", when=Condition(score=Bound(gte=0.9)), action="block"),
    ],
    throttle=ThrottleConfig(requests_per_minute=2, tokens_per_minute=None),
)


def test_scored_account_climbs_the_ladder(tmp_path: Path, replay_url: str) -> None:
    with policy_gateway(tmp_path, replay_url, LADDER, ["atk", "alice"]) as (gw, _):
        seen: list[str] = []
        headers: dict[str, dict[str, str]] = {}
        for i in range(60):
            result, hdrs = outcome(gw, "atk", i)
            seen.append(result)
            headers.setdefault(result, hdrs)
            if result == "403":
                break
        first = {r: seen.index(r) for r in ("ok", "429", "degraded", "403")}
        assert first["ok"] < first["429"] < first["degraded"] < first["403"], seen
        assert int(headers["429"]["retry-after"]) >= 1
        assert headers["403"].get("x-should-retry") == "false"
        # Once degraded, reasoning never comes back; once blocked, it stays blocked.
        assert "ok" not in seen[first["degraded"] :]
        assert outcome(gw, "atk", 99)[0] == "403"
        # A bystander on the same gateway is untouched.
        assert ask(gw, "alice", "What is a good name for a cat?", T0 + 200)[0]
        audit = admin(gw, "GET", "/admin/audit", params={"target": "atk"})["data"]
        ladder = [e["action"] for e in reversed(audit) if e["what"] == "ladder"]
        assert ladder == ["throttle", "degrade", "block"]
        assert all(e["reasons"] and e["evidence"]["signals"] for e in audit)


def _campaign_id(gw: GatewayHandle, account: str) -> str:
    campaign_id = admin(gw, "GET", f"/admin/accounts/{account}")["campaign_id"]
    assert campaign_id is not None
    return str(campaign_id)


def test_campaign_block_catches_a_new_head_and_appeal_restores(
    tmp_path: Path, replay_url: str
) -> None:
    meta = {a: {"payment_fingerprint": "card-shared-1"} for a in ("h1", "h2", "h3")}
    with policy_gateway(
        tmp_path, replay_url, PolicyConfig(rules=[]), ["h1", "h2", "h3", "bob"], meta=meta
    ) as (gw, _):
        for n, account in enumerate(("h1", "h2")):
            ask(gw, account, f"Tell me about rivers, part {n}", T0 + n)
        campaign_id = _campaign_id(gw, "h1")
        made = admin(
            gw,
            "POST",
            "/admin/actions",
            json={
                "target_kind": "campaign",
                "target": campaign_id,
                "action": "block",
                "reason": "reseller cluster",
                "actor": "ana",
            },
        )
        assert made["indicators"] >= 3  # both accounts and the shared card
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "h1", "hello again", T0 + 10)
        # A brand-new account on the same card is refused on its very first request.
        with pytest.raises(openai.PermissionDeniedError) as refused:
            ask(gw, "h3", "a first question", T0 + 11)
        # The client learns nothing about detection; the event says why.
        assert "payment" not in refused.value.message
        assert ask(gw, "bob", "unrelated customer", T0 + 12)[0]
        # The appeal restores access at once.
        admin(
            gw,
            "POST",
            "/admin/appeals",
            json={"target_kind": "account", "target": "h3", "reason": "own card, verified"},
        )
        assert ask(gw, "h3", "thanks", T0 + 13)[0]
        # An action taken after the appeal still counts: the account can be blocked again.
        reblock = admin(
            gw,
            "POST",
            "/admin/actions",
            json={"target_kind": "account", "target": "h3", "action": "block", "reason": "again"},
        )
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "h3", "one more", T0 + 13.5)
        admin(gw, "POST", f"/admin/actions/{reblock['id']}/revoke", json={"reason": "oops"})
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "h2", "still blocked", T0 + 14)
        # Revoking the campaign action frees every member.
        admin(gw, "POST", f"/admin/actions/{made['id']}/revoke", json={"reason": "wrong call"})
        assert ask(gw, "h2", "free again", T0 + 15)[0]
    h3 = [e for e in gw.events() if e["account_id"] == "h3"]
    assert len(h3) == 3
    assert any("payment card-shared-1" in r for r in h3[0]["decision"]["reasons"])
    assert h3[1]["decision"]["reasons"][0].startswith("allowed by action")


def test_shadow_mode_changes_nothing_but_logs(tmp_path: Path, replay_url: str) -> None:
    shadow = PolicyConfig(
        mode="shadow",
        rules=[Rule(name="block-all", when=Condition(), action="block")],
    )
    with policy_gateway(tmp_path, replay_url, shadow, ["alice"]) as (gw, _):
        content, reasoning = ask(gw, "alice", "What is the tallest mountain?", T0)
        assert content and reasoning
        audit = admin(gw, "GET", "/admin/audit")["data"]
        assert [(e["what"], e["action"]) for e in audit] == [("ladder (shadow)", "block")]
    (event,) = [e for e in gw.events() if e.get("request")]
    assert event["decision"]["action"] == "flag"
    assert event["decision"]["reasons"][0] == "shadow: would block"


def test_imported_peer_bundle_changes_the_decision(tmp_path: Path, replay_url: str) -> None:
    block_intel = PolicyConfig(rules=[Rule(name="peer", when=Condition(intel=[]), action="block")])
    bundle = export_json(
        CampaignIntel(
            campaign_id="peer-camp",
            name="peer campaign",
            first_seen=time.time() - 3600,  # a fresh bundle: indicators expire after 30 days
            last_seen=time.time() - 60,
            accounts=40,
            requests=9000,
            cidrs=["127.0.0.0/24"],
            confidence=90,
        )
    )
    with policy_gateway(tmp_path, replay_url, block_intel, ["alice"]) as (gw, _):
        assert ask(gw, "alice", "before the import", T0)[0]
        done = admin(gw, "POST", "/admin/intel/import", content=bundle)
        assert done["indicators"] == 1
        with pytest.raises(openai.PermissionDeniedError) as refused:
            ask(gw, "alice", "after the import", T0 + 1)
        assert "intel" not in refused.value.message
        # A bad bundle is reversible like any action.
        done = admin(
            gw,
            "POST",
            "/admin/intel/withdraw",
            json={"source": "distillguard", "reason": "peer retracted it"},
        )
        assert done["withdrawn"] == 1
        assert ask(gw, "alice", "after the withdrawal", T0 + 2)[0]
    blocked = [e for e in gw.events() if e.get("request")][-2]
    assert "matches peer intelligence (cidr)" in blocked["decision"]["reasons"]


def test_review_resolution_as_throttle_is_honoured(tmp_path: Path, replay_url: str) -> None:
    review = PolicyConfig(
        rules=[Rule(name="review-all", when=Condition(), action="review")],
        throttle=ThrottleConfig(requests_per_minute=1, tokens_per_minute=None),
    )
    with policy_gateway(tmp_path, replay_url, review, ["alice"]) as (gw, _):
        ask(gw, "alice", "What is a prime number?", T0)
        (item,) = admin(gw, "GET", "/admin/reviews")["data"]
        admin(gw, "POST", f"/admin/reviews/{item['id']}/resolve", json={"resolution": "throttle"})
        content, reasoning = ask(gw, "alice", "And a composite one?", T0 + 1)
        assert content and reasoning  # throttled, not degraded: the reviewer's choice
        with pytest.raises(openai.RateLimitError):
            ask(gw, "alice", "And another?", T0 + 2)
        assert admin(gw, "GET", "/admin/reviews")["data"] == []  # not reopened


def test_review_queue_resolution_is_enforced(tmp_path: Path, replay_url: str) -> None:
    review = PolicyConfig(rules=[Rule(name="review-all", when=Condition(), action="review")])
    with policy_gateway(tmp_path, replay_url, review, ["alice"]) as (gw, _):
        content, reasoning = ask(gw, "alice", "What is a prime number?", T0)
        # Pending review serves degraded answers: content, no reasoning.
        assert content and not reasoning
        (item,) = admin(gw, "GET", "/admin/reviews")["data"]
        assert item["target"] == "alice"
        ask(gw, "alice", "Another one", T0 + 1)
        assert len(admin(gw, "GET", "/admin/reviews")["data"]) == 1  # queued once
        admin(gw, "POST", f"/admin/reviews/{item['id']}/resolve", json={"resolution": "block"})
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "alice", "blocked now", T0 + 2)


@pytest.mark.parametrize("fail_mode", ["open", "closed"])
def test_store_unavailable_follows_the_fail_mode(
    tmp_path: Path, replay_url: str, fail_mode: str
) -> None:
    with policy_gateway(
        tmp_path,
        replay_url,
        PolicyConfig(rules=[]),
        ["alice", "mallory"],
        fail_mode=fail_mode,
        max_staleness_s=0.3,
    ) as (gw, responder):
        admin(
            gw,
            "POST",
            "/admin/actions",
            json={"target_kind": "account", "target": "mallory", "action": "block", "reason": "r"},
        )
        responder.cache.store.close()  # the store goes away under the running gateway
        time.sleep(0.6)
        if fail_mode == "closed":
            with pytest.raises(openai.InternalServerError) as refused:
                ask(gw, "alice", "is anyone there?", T0)
            assert refused.value.status_code == 503
            assert refused.value.response.headers["retry-after"] == "1"
        else:
            assert ask(gw, "alice", "is anyone there?", T0)[0]
            # Open means serving on the last snapshot, not forgetting it.
            with pytest.raises(openai.PermissionDeniedError):
                ask(gw, "mallory", "me too", T0 + 1)


def test_a_block_on_one_replica_is_enforced_by_another(tmp_path: Path, replay_url: str) -> None:
    """Two gateway replicas share the decisions store: the other one reloads within a second."""
    shared = tmp_path / "shared-decisions.sqlite"
    empty = PolicyConfig(rules=[])
    with (
        policy_gateway(tmp_path / "a", replay_url, empty, ["eve"], decisions_db=shared) as (a, _),
        policy_gateway(tmp_path / "b", replay_url, empty, ["eve"], decisions_db=shared) as (b, _),
    ):
        assert ask(b, "eve", "before", T0)[0]
        admin(
            a,
            "POST",
            "/admin/actions",
            json={"target_kind": "account", "target": "eve", "action": "block", "reason": "r"},
        )
        blocked_at = None
        started = time.monotonic()
        while time.monotonic() - started < 3.0:
            try:
                ask(b, "eve", "after", T0 + 1)
            except openai.PermissionDeniedError:
                blocked_at = time.monotonic() - started
                break
            time.sleep(0.02)
        assert blocked_at is not None and blocked_at <= 1.0, blocked_at
