"""A campaign flagged on one replica is recognised on another: its indicators travel through
the shared decisions store (a real Redis) as intel from ``replica:<name>``."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from dashkit import CARD, HYDRA, harvest
from distillguard.policy.rules import Condition, PolicyConfig, Rule
from distillguard.policy.sharing import CampaignSharing
from policykit import T0, admin, ask, policy_gateway
from servers import redis_server

# Replica B blocks what matches shared intel, so the test can see it with the client.
INTEL_BLOCKS = PolicyConfig(rules=[Rule(name="shared", when=Condition(intel=[]), action="block")])


def test_a_new_head_on_another_replica_is_recognised(tmp_path: Path, replay_url: str) -> None:
    meta = {a: {"payment_fingerprint": CARD} for a in [*HYDRA, "new-head"]}
    with (
        redis_server(tmp_path / "redis") as url,
        policy_gateway(
            tmp_path / "a", replay_url, PolicyConfig(rules=[]), HYDRA, meta=meta, redis_url=url
        ) as (a, policy_a),
        policy_gateway(
            tmp_path / "b",
            replay_url,
            INTEL_BLOCKS,
            ["new-head", "carol"],
            meta=meta,
            redis_url=url,
        ) as (b, _),  # fmt: skip
    ):
        policy_a.sharing = CampaignSharing(policy_a.cache.store, "a")
        n = 0
        for _ in range(4):
            for account in HYDRA:
                ask(a, account, harvest(n), T0 + 30.0 * n)
                n += 1
        campaign_id, stats = policy_a.engine.campaign(HYDRA[0])
        assert campaign_id is not None and stats.flagged_ts is not None
        shared = policy_a.cache.store.intel()
        assert shared and {r.source for r in shared} == {"replica:a"}
        kinds = {r.kind for r in shared}
        assert "payment_sha256" in kinds and "template_minhash" in kinds
        assert CARD not in {r.value for r in shared}  # hashed, as in any intel exchange
        assert "cidr" not in kinds  # one replica cannot tell a NAT it shares with others
        time.sleep(0.3)  # B reloads its snapshot
        with pytest.raises(openai.PermissionDeniedError):
            ask(b, "new-head", "my very first question", T0 + 10_000)
        assert ask(b, "carol", "hello there", T0 + 10_001)[0]
        audit = admin(b, "GET", "/admin/audit", params={"limit": 50})["data"]
        assert any(e["what"] == "intel imported" and e["actor"] == "replica:a" for e in audit)
