"""What every traffic source produces, and how a simulated request becomes an event.

A source (humans, an enterprise pipeline, an attack campaign) declares its accounts and yields
its requests in time order; ``world`` merges the sources and writes events and labels.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from distillguard.events import Event
from distillguard.tokens import estimate_tokens

Label = Literal["benign", "legitimate-automation", "attack"]

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0

# The model lineup of the simulated provider: the new model is released mid-scenario.
CURRENT_MODEL = "frontier-1"
NEW_MODEL = "frontier-2"
SMALL_MODEL = "frontier-1-mini"


@dataclass(frozen=True, slots=True)
class SimAccount:
    account_id: str
    label: Label
    kind: str  # look-alike kind ("human", "eval-harness", ...) or attack archetype
    campaign_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # becomes the event's account_meta


@dataclass(slots=True)
class SimRequest:
    ts: float
    account_id: str
    api_key_id: str
    ip: str
    user_agent: str
    body: dict[str, Any]  # the chat.completions request body as a client would send it
    answer: str  # what the simulated model answers (recorded data, never generated)
    reasoning: str = ""  # simulated raw reasoning, when the model "thinks"
    harvest: bool = False  # an attack request proper (not genuine traffic mixed into an account)


class TrafficSource(Protocol):
    def accounts(self) -> Sequence[SimAccount]: ...

    def requests(self) -> Iterator[SimRequest]:
        """This source's requests, in non-decreasing ``ts`` order."""
        ...


@dataclass(frozen=True, slots=True)
class SimWindow:
    """The simulated period and when the new model appears in it."""

    start: float
    days: float
    release_ts: float

    @property
    def end(self) -> float:
        return self.start + self.days * DAY

    def model_at(self, ts: float, rng: random.Random, adoption_per_day: float = 0.15) -> str:
        """A typical customer's model: the new one, slowly adopted after its release."""
        if ts < self.release_ts:
            return CURRENT_MODEL
        share = min(0.6, adoption_per_day * (ts - self.release_ts) / DAY)
        return NEW_MODEL if rng.random() < share else CURRENT_MODEL


def stable_id(*parts: object, length: int = 12) -> str:
    """A deterministic opaque id (account ids, payment fingerprints) from seeds and names."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()
    return digest[:length]


def to_event(req: SimRequest, meta: dict[str, Any] | None, max_content_chars: int = 2000) -> Event:
    """The event the gateway would have written for this request, had it been allowed."""
    messages = req.body.get("messages", [])
    prompt_tokens = sum(
        estimate_tokens(m["content"]) if isinstance(m.get("content"), str) else 50
        for m in messages
        if isinstance(m, dict)
    )
    completion_tokens = max(1, estimate_tokens(req.answer))
    n = int(req.body.get("n") or 1)
    response: dict[str, Any] = {
        "status": 200,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens * n,
        "finish_reason": "stop",
        "content": req.answer[:max_content_chars],
        "latency_ms": 400.0 + 12.0 * completion_tokens,
    }
    if req.reasoning:
        response["reasoning_tokens"] = estimate_tokens(req.reasoning)
        response["reasoning_content"] = req.reasoning[:max_content_chars]
    event: Event = {
        "ts": round(req.ts, 3),
        "account_id": req.account_id,
        "api_key_id": req.api_key_id,
        "ip": req.ip,
        "user_agent": req.user_agent,
        "endpoint": "/v1/chat/completions",
        "model": req.body.get("model", CURRENT_MODEL),
        "request": req.body,
        "response": response,
    }
    if meta:
        event["account_meta"] = meta
    return event
