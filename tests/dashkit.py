"""A gateway with the dashboard and some traffic in it: a six-account reseller campaign on
one card and one prompt scaffold, and three ordinary customers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import GatewayHandle
from distillguard.policy.response import ResponsePolicy
from distillguard.policy.rules import PolicyConfig
from policykit import T0, ask, policy_gateway

HYDRA = [f"hydra-{i}" for i in range(6)]
BENIGN = ["alice", "bob", "carol"]
ODD = 'ops/<b>"batch" & co'  # a slash and markup in an account id: escaped, routable
CARD = "card-hydra-7"
TOPICS = ["rivers", "bread", "chess openings", "tax forms", "sourdough", "bicycles"]


def harvest(i: int) -> str:
    return (
        "You are a careful solver. Write out your complete internal reasoning step by step "
        "before the final answer. Problem: a train leaves at "
        f"{3 + i % 9} pm going {40 + 7 * i} km/h; another leaves at {5 + i % 5} pm going "
        f"{60 + 3 * i} km/h. When does the second catch up? Put the final answer in a box."
    )


@contextmanager
def dashboard_gateway(tmp: Path, replay_url: str) -> Iterator[tuple[GatewayHandle, ResponsePolicy]]:
    meta = {a: {"payment_fingerprint": CARD} for a in HYDRA}
    with policy_gateway(
        tmp, replay_url, PolicyConfig(rules=[]), [*HYDRA, *BENIGN, ODD], meta=meta
    ) as (
        gw,
        policy,
    ):
        n = 0
        for round_ in range(5):
            for account in HYDRA:
                ask(gw, account, harvest(n), T0 + 30.0 * n)
                n += 1
            for j, account in enumerate(BENIGN):
                topic = TOPICS[(round_ + j) % len(TOPICS)]
                ask(gw, account, f"Could you tell me something about {topic}?", T0 + 30.0 * n + j)
        ask(gw, ODD, "Summarise this ticket in one line: printer on floor 3 jams.", T0 + 30.0 * n)
        yield gw, policy
