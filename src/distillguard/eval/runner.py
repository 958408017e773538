"""Run the engine over a simulated world and record, per account, what it let through.

The engine is the same object the gateway uses; the world's events are fed in time order, and
each verdict is read right after its event, so "served before flagged" means exactly what the
gateway would have served.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from distillguard.engine import Engine, batch_gc
from distillguard.engine_config import EngineConfig
from distillguard.sim.resources import DataBank
from distillguard.sim.world import Scenario, build_world


@dataclass(slots=True)
class AccountOutcome:
    account_id: str
    label: str
    kind: str
    campaign: str | None
    requests: int = 0
    harvest_requests: int = 0
    harvest_leaked: int = 0  # attack requests served before the account was flagged
    pairs_leaked: int = 0
    tokens_leaked: int = 0  # output (completion + reasoning) tokens obtained before the flag
    first_ts: float = 0.0
    flagged_at: int | None = None
    flagged_ts: float | None = None
    max_score: float = 0.0
    reasons: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.flagged_at is not None


@dataclass
class RunResult:
    seed: int
    template_bank: str
    scale: float
    events: int
    seconds_simulate_and_detect: float
    seconds_detect: float
    outcomes: dict[str, AccountOutcome] = field(default_factory=dict)


def run_once(
    scenario: Scenario, engine_config: EngineConfig | None = None, bank: DataBank | None = None
) -> RunResult:
    started = time.perf_counter()
    world = build_world(scenario, bank)
    outcomes = {
        a.account_id: AccountOutcome(a.account_id, a.label, a.kind, a.campaign_id)
        for a in world.accounts()
    }
    engine = Engine(engine_config)
    detect = 0.0
    events = 0
    with batch_gc():  # as analyze folds a log
        for event, req in world.events():
            # The gateway scores a request before forwarding it (its hook runs the engine on the
            # request), so the verdict that includes this request decides whether it is served.
            t0 = time.perf_counter()
            verdict = engine.process(event)
            detect += time.perf_counter() - t0
            if verdict is None:
                continue
            served = not verdict.flagged
            events += 1
            out = outcomes[req.account_id]
            if out.requests == 0:
                out.first_ts = req.ts
            out.requests += 1
            if req.harvest:
                out.harvest_requests += 1
                if served:
                    out.harvest_leaked += 1
                    out.pairs_leaked += 1
                    response = event["response"]
                    out.tokens_leaked += int(response.get("completion_tokens", 0)) + int(
                        response.get("reasoning_tokens", 0)
                    )
            if verdict.flagged and out.flagged_at is None:
                out.flagged_at, out.flagged_ts, out.reasons = (
                    verdict.request_index,
                    req.ts,
                    verdict.reasons,
                )
            out.max_score = max(out.max_score, verdict.score)
    result = RunResult(
        seed=scenario.seed,
        template_bank=scenario.template_bank,
        scale=scenario.scale,
        events=events,
        seconds_simulate_and_detect=time.perf_counter() - started,
        seconds_detect=detect,
        outcomes=outcomes,
    )
    return result
