"""Gateway replicas sharing decisions through a real Redis: a block made on one is enforced by
the other within a second; Redis going away follows the fail mode, and when it is back the
gateways recover on their own with every decision made before the outage."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import GatewayHandle
from distillguard.policy.rules import PolicyConfig
from distillguard.procs import free_port
from policykit import T0, TOKEN, admin, ask, policy_gateway
from servers import redis_server

EMPTY = PolicyConfig(rules=[])
BLOCK = {"target_kind": "account", "target": "mallory", "action": "block", "reason": "r"}


def first_refusal(gw: GatewayHandle, account: str, within_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        try:
            ask(gw, account, "still there?", T0 + 1)
        except openai.PermissionDeniedError:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def test_a_block_on_one_replica_is_enforced_by_another(tmp_path: Path, replay_url: str) -> None:
    with (
        redis_server(tmp_path / "redis") as url,
        policy_gateway(tmp_path / "a", replay_url, EMPTY, ["eve"], redis_url=url) as (a, _),
        policy_gateway(tmp_path / "b", replay_url, EMPTY, ["eve"], redis_url=url) as (b, _),
    ):
        assert ask(b, "eve", "before", T0)[0]
        made = admin(a, "POST", "/admin/actions", json={**BLOCK, "target": "eve"})
        latency = first_refusal(b, "eve", within_s=3.0)
        assert latency is not None and latency <= 1.0, latency
        print(f"block on replica A enforced by replica B after {latency * 1000:.0f} ms")
        # And the revocation travels back the same way.
        admin(b, "POST", f"/admin/actions/{made['id']}/revoke", json={"reason": "wrong"})
        time.sleep(0.3)
        assert ask(a, "eve", "free again", T0 + 2)[0]


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_redis_outage_follows_the_fail_mode_and_recovers(
    tmp_path: Path, replay_url: str, fail_mode: str
) -> None:
    port = free_port()
    data = tmp_path / "redis"
    with contextlib.ExitStack() as outage:
        url = outage.enter_context(redis_server(data, port))
        with policy_gateway(
            tmp_path / "gw",
            replay_url,
            EMPTY,
            ["alice", "mallory"],
            fail_mode=fail_mode,
            max_staleness_s=0.3,
            redis_url=url,
        ) as (gw, _):
            admin(gw, "POST", "/admin/actions", json=BLOCK)
            outage.close()  # Redis goes away under the running gateway
            time.sleep(0.6)
            if fail_mode == "closed":
                with pytest.raises(openai.InternalServerError) as refused:
                    ask(gw, "alice", "anyone?", T0)
                assert refused.value.status_code == 503
            else:
                assert ask(gw, "alice", "anyone?", T0)[0]
                with pytest.raises(openai.PermissionDeniedError):  # the last snapshot holds
                    ask(gw, "mallory", "me too", T0 + 1)
            # A change during the outage is refused, not half-made or silently dropped.
            lost = httpx.post(
                gw.url + "/admin/actions",
                headers={"authorization": f"Bearer {TOKEN}"},
                json={**BLOCK, "target": "alice"},
            )
            assert lost.status_code == 503
            assert lost.json()["error"]["code"] == "decisions_unavailable"
            with redis_server(data, port):  # back, with what it had written
                deadline = time.monotonic() + 5
                while True:
                    try:
                        ask(gw, "alice", "back?", T0 + 2)
                        break
                    except openai.InternalServerError:
                        assert time.monotonic() < deadline, "the gateway did not recover"
                        time.sleep(0.05)
                with pytest.raises(openai.PermissionDeniedError):
                    ask(gw, "mallory", "and me?", T0 + 3)
                actions = admin(gw, "GET", "/admin/actions")["data"]
                assert [a["target"] for a in actions] == ["mallory"]
