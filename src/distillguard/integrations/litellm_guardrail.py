"""distillguard as a LiteLLM proxy guardrail, for operators whose LiteLLM already fronts the model.

Enabled in LiteLLM's ``config.yaml``; LiteLLM imports the class by module path and passes it
everything under ``litellm_params``::

    guardrails:
      - guardrail_name: distillguard
        litellm_params:
          guardrail: distillguard.integrations.litellm_guardrail.DistillguardGuardrail
          mode: [pre_call, post_call]      # both: the answer is needed to degrade and record it
          default_on: true                 # else a client picks its guardrails per request
          distillguard_config: /etc/distillguard/litellm.yaml   # or env DISTILLGUARD_CONFIG

The distillguard YAML is the gateway's: ``policy``, ``detection``, ``response``, ``event_log``,
``limits``, ``trusted_proxies`` and ``fail_mode`` apply; ``listen``, ``upstream``, ``auth``,
``admin`` and ``dashboard`` do not (LiteLLM listens, routes and authenticates).

How the LiteLLM hooks are used:

- ``async_pre_call_hook`` judges the request (``decide_or_fail`` with the config's fail mode,
  then ``enforce``) and refuses with a ``fastapi.HTTPException``, whose status, message and
  headers LiteLLM answers with: 403 for a block, 429 with ``Retry-After`` for a throttle, 503
  when the hook failed closed. LiteLLM's envelope sets ``error.code`` to the status; ours
  (``access_denied``, ...) is in ``error.provider_specific_fields.error``. A degrade lowers
  ``logprobs``/``n``/``max_tokens`` in the request LiteLLM forwards.
- ``async_post_call_success_hook`` strips reasoning (and logprobs) from a degraded answer and
  finishes the event with the usage; ``async_post_call_streaming_iterator_hook`` does the same
  chunk by chunk; ``async_post_call_failure_hook`` finishes the event of a call that failed
  after it was allowed (the model, a later guardrail, a client disconnect). A refusal is
  finished at once. One event per request on every path: a request LiteLLM never reports the
  end of is finished as ``abandoned`` once ``max_in_flight`` newer ones are waiting.

Every call type LiteLLM passes to pre-call hooks is judged, so a blocked account cannot switch
to ``/v1/responses`` or ``/v1/messages``; only chat completions are validated against
``limits`` and degraded, other calls get the decision's refusals and a "not applied" reason.

Who the account is, from LiteLLM's ``UserAPIKeyAuth``: ``team:<team_id>``, else
``user:<user_id>``, else ``key:<token>`` (LiteLLM's hash of the key). The team is LiteLLM's
unit of a customer (budgets, limits and model access are set there), so a distiller who mints
more keys or users inside it stays one account; a user comes next for keys without a team;
the key alone is last because each new key would start a clean history. ``org_id`` is too
coarse (one team's abuse would block the whole organisation) and ``end_user_id`` is whatever
the client sent in ``user``, so both, the key alias and the team and user ids go to
``account_meta``, with any admin-set ``distillguard`` mapping in the team's or key's metadata
(key over team; e.g. ``created_at``, ``country``, ``payment_fingerprint``).

LiteLLM with several workers runs one guardrail per process, each with its own rate limits and
detection state (decisions are shared through the decisions store): run one worker, or expect
per-worker limits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from fastapi import HTTPException
from litellm.caching.dual_cache import DualCache
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse, ModelResponseStream
from pydantic import BaseModel

from distillguard.config import ConfigError, GatewayConfig, load_config
from distillguard.countermeasures.degrade import (
    DegradeOptions,
    StreamDegrader,
    degrade_request,
    degrade_response,
)
from distillguard.events import UNAUTHENTICATED_ACCOUNT
from distillguard.gateway.app import MAX_USER_AGENT
from distillguard.gateway.checkpoint import decide_or_fail, enforce
from distillguard.gateway.clientip import ClientIpResolver
from distillguard.gateway.decision import DecisionHook, RequestContext
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.recording import EventDraft, EventSink
from distillguard.gateway.server import build_hook
from distillguard.gateway.upstream import apply_completion, apply_usage
from distillguard.gateway.validation import parse_chat_request
from distillguard.policy.response import ResponsePolicy
from distillguard.store.eventlog import EventLog
from distillguard.tokens import estimate_tokens

__all__ = ["CONFIG_ENV", "DistillguardGuardrail", "Identity", "identity_of"]

log = logging.getLogger(__name__)

CONFIG_ENV: Final = "DISTILLGUARD_CONFIG"
REQUEST_ID_KEY: Final = "distillguard_request_id"  # in the request's LiteLLM metadata
DEGRADE_NOT_APPLIED: Final = "degrade not applied: only chat completions are degraded"
_CHAT_CALLS: Final = frozenset({"completion", "acompletion"})
_REQUIRED_MODES: Final = frozenset({"pre_call", "post_call"})
# What LiteLLM adds to a request body; the event keeps what the client sent.
_METADATA_KEYS: Final = ("metadata", "litellm_metadata")
_INTERNAL_KEYS: Final = frozenset({*_METADATA_KEYS, "proxy_server_request"})
_THINKING_BLOCKS: Final = "thinking_blocks"  # LiteLLM's copy of Anthropic-style reasoning


@dataclass(frozen=True, slots=True)
class Identity:
    account_id: str
    api_key_id: str
    account_meta: dict[str, Any]


def identity_of(user: UserAPIKeyAuth | None) -> Identity:
    """The distillguard account behind a LiteLLM caller (order and reasons: module docstring)."""
    if user is None:
        return Identity(UNAUTHENTICATED_ACCOUNT, "", {})
    key_id = user.token or user.api_key or ""
    if user.team_id:
        account = f"team:{user.team_id}"
    elif user.user_id:
        account = f"user:{user.user_id}"
    elif key_id:
        account = f"key:{key_id}"
    else:
        account = UNAUTHENTICATED_ACCOUNT
    meta: dict[str, Any] = {
        **_admin_meta(user.team_metadata),
        **_admin_meta(user.metadata),
    }
    for name, value in (
        ("litellm_org_id", user.org_id),
        ("litellm_team_id", user.team_id),
        ("litellm_user_id", user.user_id),
        ("litellm_key_alias", user.key_alias),
        ("litellm_end_user_id", user.end_user_id),
    ):
        if value:
            meta[name] = value
    return Identity(account, key_id, meta)


def _admin_meta(metadata: object) -> dict[str, Any]:
    block = metadata.get("distillguard") if isinstance(metadata, dict) else None
    return dict(block) if isinstance(block, dict) else {}


@dataclass(slots=True)
class _InFlight:
    draft: EventDraft
    degrade: DegradeOptions | None


@dataclass(slots=True)
class _Recorder:
    """The drafts of allowed requests until LiteLLM reports how they ended, oldest first."""

    sink: EventSink
    limit: int
    waiting: OrderedDict[str, _InFlight] = field(default_factory=OrderedDict)

    def hold(self, flight: _InFlight) -> None:
        self.waiting[flight.draft.request_id] = flight
        while len(self.waiting) > self.limit:
            _, old = self.waiting.popitem(last=False)
            old.draft.error_code = "abandoned"
            old.draft.error_message = "LiteLLM never reported how this request ended."
            self.sink.finish(old.draft)

    def take(self, data: Mapping[str, Any]) -> _InFlight | None:
        for name in _METADATA_KEYS:
            meta = data.get(name)
            request_id = meta.get(REQUEST_ID_KEY) if isinstance(meta, dict) else None
            if isinstance(request_id, str):
                return self.waiting.pop(request_id, None)
        return None


# Where LiteLLM is not installed (type-checking only), its base class is Any.
class DistillguardGuardrail(CustomGuardrail):  # type: ignore[misc, unused-ignore]
    """The guardrail LiteLLM instantiates once from ``config.yaml`` (see the module docstring).

    ``hook`` replaces the one built from the config (tests); ``max_in_flight`` bounds the
    requests waiting for their answer.
    """

    def __init__(
        self,
        distillguard_config: str | None = None,
        *,
        max_in_flight: int = 10_000,
        hook: DecisionHook | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        modes = _modes(self.event_hook)
        if not modes >= _REQUIRED_MODES:
            raise ConfigError(
                f"guardrail {self.guardrail_name}: set mode: [pre_call, post_call] (got "
                f"{sorted(modes)}); distillguard needs the answer to degrade and record it"
            )
        if not self.default_on:
            log.warning(
                "guardrail %s is not default_on: requests that do not name it are not judged",
                self.guardrail_name,
            )
        path = distillguard_config or os.environ.get(CONFIG_ENV)
        if not path:
            raise ConfigError(
                f"set litellm_params.distillguard_config or {CONFIG_ENV} to a distillguard YAML"
            )
        self._config: GatewayConfig = load_config(path)
        self._policy: ResponsePolicy | None = None
        if hook is None:
            hook, self._policy = build_hook(self._config)
        self._hook = hook
        cfg = self._config.event_log
        self._events = EventLog(
            cfg.path, flush_interval_s=cfg.flush_interval_ms / 1000.0, max_batch=cfg.max_batch
        )
        self._events.start()
        self._recorder = _Recorder(
            EventSink(self._events.append, hook.observe, cfg.max_content_chars), max_in_flight
        )
        self._ips = ClientIpResolver(self._config.trusted_proxies)
        self._refresher: asyncio.Task[None] | None = None
        # LiteLLM has no shutdown hook for guardrails; the interpreter's exit flushes the log.
        atexit.register(self.close)

    def close(self) -> None:
        """Flush the event log and stop its writer (idempotent)."""
        self._events.close()

    # LiteLLM's hooks ----------------------------------------------------------------------
    async def async_pre_call_hook(
        self,
        user_api_key_dict: UserAPIKeyAuth,
        cache: DualCache,
        data: dict[str, Any],
        call_type: Any,
    ) -> dict[str, Any]:
        await self._keep_decisions_fresh()
        who = identity_of(user_api_key_dict)
        meta = _metadata(data)
        draft = EventDraft(
            ts=time.time(),
            started=time.perf_counter(),
            request_id="req_" + secrets.token_hex(12),
            endpoint=_endpoint(user_api_key_dict, data),
            ip=self._client_ip(meta.get("requester_ip_address")),
            user_agent=str(meta.get("user_agent") or "")[:MAX_USER_AGENT],
            account_id=who.account_id,
            api_key_id=who.api_key_id,
            account_meta=who.account_meta,
        )
        _stamp(data, draft.request_id)
        try:
            degrade = self._judge(draft, data, str(call_type), who)
        except GatewayError as err:
            raise self._refuse(draft, err) from None
        except Exception:
            log.exception("distillguard guardrail failed on %s", draft.request_id)
            crash = GatewayError(500, "Internal guardrail error.", "api_error", "internal_error")
            raise self._refuse(draft, crash) from None
        draft.forwarded = True
        self._recorder.hold(_InFlight(draft, degrade))
        return data

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        flight = self._recorder.take(data)
        if flight is None:
            return response
        draft = flight.draft
        try:
            payload = _as_dict(response)
            if flight.degrade is not None and isinstance(response, ModelResponse):
                payload = degrade_response(_without_thinking_blocks(payload), flight.degrade)
                response = _rebuilt(response, payload)
            apply_completion(draft, payload)
            draft.status = 200
        finally:
            self._recorder.sink.finish(draft)
        return response

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> HTTPException | None:
        flight = self._recorder.take(request_data)
        if flight is not None:
            status = _status_of(original_exception)
            flight.draft.fail(status, type(original_exception).__name__, str(original_exception))
            self._recorder.sink.finish(flight.draft)
        return None  # LiteLLM answers with its own error

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: UserAPIKeyAuth, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[ModelResponseStream, None]:
        flight = self._recorder.take(request_data)
        if flight is None:
            async for chunk in response:
                yield chunk
            return
        draft = flight.draft
        draft.streamed, draft.status = True, 200
        degrader = StreamDegrader(flight.degrade) if flight.degrade is not None else None
        tally = _StreamTally(self._config.event_log.max_content_chars)
        try:
            async for chunk in response:
                for out in _degraded_chunks(chunk, degrader):
                    tally.add(out)
                    yield out
            if degrader is not None:
                for summary in degrader.finish():
                    out = ModelResponseStream(**summary)
                    tally.add(out)
                    yield out
        except (asyncio.CancelledError, GeneratorExit):
            draft.client_disconnected = True
            draft.fail(499, "client_disconnected", "The client closed the connection.")
            raise
        except Exception as exc:
            draft.fail(_status_of(exc), type(exc).__name__, str(exc))
            raise
        finally:
            tally.apply(draft)
            self._recorder.sink.finish(draft)

    # the decision -------------------------------------------------------------------------
    def _judge(
        self, draft: EventDraft, data: dict[str, Any], call_type: str, who: Identity
    ) -> DegradeOptions | None:
        """Decide and enforce; the degrade options to apply to the answer, if any."""
        body = _client_body(data)
        draft.request = body
        chat = call_type in _CHAT_CALLS
        raw = orjson.dumps(body, default=str)
        if chat:
            parsed = parse_chat_request(raw, self._config.limits)
            tokens, max_tokens, model = (
                parsed.prompt_tokens_estimate,
                parsed.max_tokens,
                parsed.model,
            )
        else:
            tokens, max_tokens = estimate_tokens(raw.decode()), None
            model = str(data.get("model") or "")
        draft.model = model or None
        ctx = RequestContext(
            ts=draft.ts,
            request_id=draft.request_id,
            account_id=who.account_id,
            api_key_id=who.api_key_id,
            ip=draft.ip,
            user_agent=draft.user_agent,
            model=model,
            body=body,
            prompt_tokens_estimate=tokens,
            max_tokens=max_tokens,
            account_meta=who.account_meta,
        )
        decision = decide_or_fail(self._hook, ctx, draft, self._config.fail_mode)
        enforce(decision)
        opts = decision.degrade if decision.action == "degrade" else None
        if opts is None:
            return None
        if not chat:
            draft.decision = dataclasses.replace(
                decision, reasons=(*decision.reasons, DEGRADE_NOT_APPLIED)
            )
            return None
        degraded, changes = degrade_request(data, opts)
        data.clear()
        data.update(degraded)  # LiteLLM forwards this very dict
        draft.decision = dataclasses.replace(decision, reasons=(*decision.reasons, *changes))
        return opts

    def _refuse(self, draft: EventDraft, err: GatewayError) -> HTTPException:
        """Finish a refused request's event now and make the error LiteLLM answers with:
        the status, the OpenAI envelope as detail (LiteLLM lifts its message) and our
        headers (``Retry-After``, ``x-should-retry``)."""
        draft.fail(err.status, err.code, err.message)
        self._recorder.sink.finish(draft)
        return HTTPException(status_code=err.status, detail=err.envelope(), headers=err.headers)

    async def _keep_decisions_fresh(self) -> None:
        """The response policy's decisions reload on LiteLLM's event loop, as in the gateway."""
        if self._policy is None or self._refresher is not None:
            return
        cache = self._policy.cache
        try:  # LiteLLM's start-up may outlast max_staleness_s
            await asyncio.to_thread(cache.refresh)
        except Exception:
            log.exception("decisions store unreadable; the fail mode applies until it is back")
        if self._refresher is None:
            interval = self._config.response.reload_interval_s
            self._refresher = asyncio.create_task(cache.refresh_forever(interval))

    def _client_ip(self, reported: object) -> str:
        """LiteLLM reports the socket peer, or the whole X-Forwarded-For when configured to
        trust it; a chain is walked right to left past ``trusted_proxies`` as the gateway does."""
        if not isinstance(reported, str) or not reported.strip():
            return "unknown"
        *forwarded, peer = reported.split(",")
        return self._ips.resolve(peer.strip(), ",".join(forwarded) or None)


def _modes(event_hook: object) -> set[str]:
    if isinstance(event_hook, str):
        return {event_hook}
    if isinstance(event_hook, Iterable):
        return {str(getattr(mode, "value", mode)) for mode in event_hook}
    return set()


def _metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The metadata LiteLLM keeps with the request (``metadata`` or, on some endpoints,
    ``litellm_metadata``); created when the request has none."""
    for name in _METADATA_KEYS:
        meta = data.get(name)
        if isinstance(meta, dict):
            return meta
    meta = data["metadata"] = {}
    return meta


def _stamp(data: dict[str, Any], request_id: str) -> None:
    """Our request id in every metadata mapping, overwriting whatever a client put there, so
    the later hooks find this request's draft and no other."""
    _metadata(data)
    for name in _METADATA_KEYS:
        meta = data.get(name)
        if isinstance(meta, dict):
            meta[REQUEST_ID_KEY] = request_id


def _endpoint(user: UserAPIKeyAuth | None, data: Mapping[str, Any]) -> str:
    route = getattr(user, "request_route", None)
    if isinstance(route, str) and route:
        return route
    request = data.get("proxy_server_request")
    url = request.get("url") if isinstance(request, dict) else None
    return urlsplit(url).path if isinstance(url, str) else "litellm"


def _client_body(data: Mapping[str, Any]) -> dict[str, Any]:
    """The body as the client sent it: LiteLLM's snapshot when there is one, else the request
    without what LiteLLM added (its metadata, ``litellm_*`` and private keys)."""
    request = data.get("proxy_server_request")
    body = request.get("body") if isinstance(request, dict) else None
    source = body if isinstance(body, dict) else data
    return {
        key: value
        for key, value in source.items()
        if key not in _INTERNAL_KEYS and not key.startswith(("litellm_", "_", "secret_"))
    }


def _status_of(exc: BaseException) -> int:
    for name in ("status_code", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and 400 <= value <= 599:
            return value
        if isinstance(value, str) and value.isdigit() and 400 <= int(value) <= 599:
            return int(value)
    return 500


def _as_dict(value: object) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return value if isinstance(value, dict) else {}


def _without_thinking_blocks(payload: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM copies Anthropic-style reasoning into ``thinking_blocks`` beside
    ``reasoning_content``; degrading must drop that copy too (the text stays in the other)."""
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return payload
    out: list[Any] = []
    for choice in choices:
        if isinstance(choice, dict):
            for part in ("message", "delta"):
                inner = choice.get(part)
                if isinstance(inner, dict) and _THINKING_BLOCKS in inner:
                    inner = {k: v for k, v in inner.items() if k != _THINKING_BLOCKS}
                    choice = {**choice, part: inner}
        out.append(choice)
    return {**payload, "choices": out}


def _rebuilt(original: BaseModel, payload: dict[str, Any]) -> Any:
    """A LiteLLM response object made from a degraded payload, keeping the private state
    (``_hidden_params``: cost, model id, headers) LiteLLM reads after the hook."""
    out = type(original)(**payload)
    for name in type(original).__private_attributes__:
        with contextlib.suppress(AttributeError):
            setattr(out, name, getattr(original, name))
    return out


def _degraded_chunks(chunk: Any, degrader: StreamDegrader | None) -> list[Any]:
    if degrader is None or not isinstance(chunk, ModelResponseStream):
        return [chunk]
    payload = _as_dict(chunk)  # ModelResponseStream.model_dump is untyped; BaseModel's is not
    stripped = _without_thinking_blocks(payload) if degrader.opts.strip_reasoning else payload
    out = degrader.feed(stripped)
    if len(out) == 1 and out[0] is payload:
        return [chunk]  # unchanged: the original object, private state and all
    return [_rebuilt(chunk, part) for part in out]


class _StreamTally:
    """What the event keeps of a streamed answer: bounded text, finish reason, usage."""

    def __init__(self, max_chars: int) -> None:
        self._max = max_chars
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._chars = [0, 0]
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def add(self, chunk: Any) -> None:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = _as_dict(usage)
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                continue
            delta = getattr(choice, "delta", None)
            self._keep(self._content, 0, getattr(delta, "content", None))
            reasoning = getattr(delta, "reasoning_content", None)
            self._keep(self._reasoning, 1, reasoning)
            finish = getattr(choice, "finish_reason", None)
            if isinstance(finish, str):
                self._finish = finish

    def _keep(self, into: list[str], slot: int, text: object) -> None:
        if isinstance(text, str) and text and self._chars[slot] < self._max:
            into.append(text)
            self._chars[slot] += len(text)

    def apply(self, draft: EventDraft) -> None:
        if self._content:
            draft.content = "".join(self._content)
        if self._reasoning:
            draft.reasoning_content = "".join(self._reasoning)
        if self._finish is not None:
            draft.finish_reason = self._finish
        apply_usage(draft, self._usage)
