"""Build the one event each request produces, whatever way it ends.

A draft starts when the request arrives and is filled in as the gateway learns things; it is
finished exactly once (``finish`` is idempotent), which is what makes "exactly one event per
request" hold on every path: refusal, upstream failure, client disconnect, crash in a handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillguard.events import UNAUTHENTICATED_ACCOUNT, Event
from distillguard.gateway.decision import Decision

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EventDraft:
    ts: float
    started: float
    request_id: str
    endpoint: str
    ip: str
    user_agent: str
    account_id: str = UNAUTHENTICATED_ACCOUNT
    api_key_id: str | None = None
    model: str | None = None
    account_meta: dict[str, Any] | None = None
    request: dict[str, Any] = field(default_factory=lambda: {"messages": []})
    decision: Decision | None = None
    forwarded: bool = False
    status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    client_disconnected: bool = False
    streamed: bool = False
    finished: bool = False

    def fail(self, status: int, code: str | None, message: str) -> None:
        self.status = status
        self.error_code = code
        self.error_message = message

    def to_event(self, max_content_chars: int) -> Event:
        latency_ms = round((time.perf_counter() - self.started) * 1000.0, 3)
        event: Event = {
            "ts": self.ts,
            "request_id": self.request_id,
            "account_id": self.account_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "endpoint": self.endpoint,
            "request": self.request,
        }
        if self.api_key_id is not None:
            event["api_key_id"] = self.api_key_id
        if self.model is not None:
            event["model"] = self.model
        if self.account_meta:
            event["account_meta"] = self.account_meta
        if self.decision is not None:
            event["decision"] = self.decision.to_event()
        if self.forwarded:
            response: dict[str, Any] = {"status": self.status, "latency_ms": latency_ms}
            for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
                value = getattr(self, name)
                if value is not None:
                    response[name] = value
            if self.finish_reason is not None:
                response["finish_reason"] = self.finish_reason
            if self.content is not None:
                response["content"] = self.content[:max_content_chars]
            if self.reasoning_content is not None:
                response["reasoning_content"] = self.reasoning_content[:max_content_chars]
            if self.streamed:
                response["stream"] = True
            if self.client_disconnected:
                response["client_disconnected"] = True
            if self.error_code is not None:
                response["error"] = {"code": self.error_code, "message": self.error_message}
            event["response"] = response
        else:
            event["rejected"] = {
                "status": self.status,
                "code": self.error_code,
                "message": self.error_message,
                "latency_ms": latency_ms,
            }
        return event


class EventSink:
    """Where finished drafts go: the event log and the decision hook's ``observe``."""

    def __init__(
        self,
        append: Callable[[Event], None],
        observe: Callable[[Event], None],
        max_content_chars: int,
    ):
        self._append = append
        self._observe = observe
        self._max_content_chars = max_content_chars

    def finish(self, draft: EventDraft) -> Event | None:
        if draft.finished:
            return None
        draft.finished = True
        event = draft.to_event(self._max_content_chars)
        self._append(event)
        try:
            self._observe(event)
        except Exception:
            # The event is already logged; a hook that cannot learn from it must not turn a
            # served response into an error.
            log.exception("decision hook failed to observe %s", draft.request_id)
        return event
