from __future__ import annotations

from distillguard.config import DetectionConfig, GatewayConfig
from distillguard.engine import Engine
from distillguard.events import Event
from distillguard.gateway.decision import ALLOW, ChainedHook, Decision, RequestContext
from distillguard.gateway.server import build_hook


class Recorder:
    def __init__(self, decision: Decision):
        self.decision = decision
        self.seen: list[str] = []

    def decide(self, ctx: RequestContext) -> Decision:
        self.seen.append(ctx.request_id)
        return self.decision

    def observe(self, event: Event) -> None:
        self.seen.append("observed")


def ctx(rid: str) -> RequestContext:
    return RequestContext(
        ts=0.0, request_id=rid, account_id="a", api_key_id="k", ip="", user_agent="",
        model="m", body={}, prompt_tokens_estimate=0, max_tokens=None,
    )  # fmt: skip


def test_first_refusal_wins_and_every_hook_sees_every_request() -> None:
    static = Recorder(Decision("throttle", retry_after_s=3))
    engine = Recorder(Decision("block", 0.9, ("campaign",)))
    chain = ChainedHook([static, engine])
    assert chain.decide(ctx("r1")).action == "throttle"
    assert engine.seen == ["r1"]  # the engine learned from the refused request too
    chain.observe({"ts": 0, "account_id": "a", "request": {"messages": []}})
    assert static.seen[-1] == engine.seen[-1] == "observed"


def test_all_allow_returns_the_last_hooks_view() -> None:
    scored = Decision("allow", 0.3)
    assert ChainedHook([Recorder(ALLOW), Recorder(scored)]).decide(ctx("r")) is scored
    assert ChainedHook([]).decide(ctx("r")) is ALLOW


def test_gateway_engine_runs_the_semantic_detector_only_when_asked() -> None:
    def detectors(semantic: bool) -> list[str]:
        config = GatewayConfig(detection=DetectionConfig(enabled=True, semantic=semantic))
        hook, _ = build_hook(config)
        assert isinstance(hook, ChainedHook)
        engine = hook.hooks[1]
        assert isinstance(engine, Engine)
        return [d.name for d in engine.detectors]

    assert "semantic" not in detectors(False)
    assert "semantic" in detectors(True)
