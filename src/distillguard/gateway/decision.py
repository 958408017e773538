"""The decision hook: the one interface between the gateway and whatever decides.

The gateway asks before forwarding (``decide``) and reports the finished event afterwards
(``observe``). The static policy implements it today; the detection engine implements it next.
``decide`` is synchronous and must be cheap: it runs on every request's critical path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from distillguard.events import Event

if TYPE_CHECKING:
    from distillguard.countermeasures.degrade import DegradeOptions

Action = Literal["allow", "flag", "throttle", "degrade", "block"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What is known about a request before it is forwarded."""

    ts: float
    request_id: str
    account_id: str
    api_key_id: str
    ip: str
    user_agent: str
    model: str
    body: dict[str, Any]
    prompt_tokens_estimate: int
    max_tokens: int | None
    account_meta: dict[str, Any] | None = None

    def to_event(self) -> Event:
        """The request as the event log will record it (without the response)."""
        return {
            "ts": self.ts,
            "request_id": self.request_id,
            "account_id": self.account_id,
            "api_key_id": self.api_key_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "model": self.model,
            "request": self.body,
            "account_meta": self.account_meta or {},
        }


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action = "allow"
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    campaign_id: str | None = None
    retry_after_s: float | None = None
    message: str | None = None
    degrade: DegradeOptions | None = None  # what to strip, when the action is "degrade"

    def to_event(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "score": self.score,
            "reasons": list(self.reasons),
            "campaign_id": self.campaign_id,
        }


ALLOW = Decision()


class DecisionHook(Protocol):
    def decide(self, ctx: RequestContext) -> Decision: ...

    def observe(self, event: Event) -> None: ...


class ChainedHook:
    """Hooks in order: the first that refuses or marks the request decides. Every hook sees
    every request, so the engine's state matches a replay of the event log even for
    requests the static policy refused."""

    def __init__(self, hooks: list[DecisionHook]):
        self.hooks = hooks

    def decide(self, ctx: RequestContext) -> Decision:
        decisions = [hook.decide(ctx) for hook in self.hooks]
        return next(
            (d for d in decisions if d.action != "allow"), decisions[-1] if decisions else ALLOW
        )

    def observe(self, event: Event) -> None:
        for hook in self.hooks:
            hook.observe(event)
