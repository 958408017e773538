"""distillguard as Envoy's external authorization service (ext_authz, ``http_service``).

For operators whose Envoy already proxies the model server: Envoy asks us before it forwards,
we never see the model's answer. Envoy's HTTP contract, as this module relies on it:

- The check request carries the original method, the path ``http_service.path_prefix`` +
  original path (query included), the headers listed in ``allowed_headers`` (plus
  ``authorization``, ``host``, ``:method``, ``:path``, always) and, with ``with_request_body``,
  the body up to ``max_request_bytes``.
- Only a 200 allows; Envoy copies the headers named in ``allowed_upstream_headers`` onto the
  upstream request. Any other 2xx/3xx/4xx denies: Envoy answers the client with our status, body
  and the headers in ``allowed_client_headers``. A 5xx is an authorization *error*: Envoy
  applies its own ``failure_mode_allow`` and answers ``status_on_error`` (default 403) without
  our body. So distillguard's fail-closed 503 (and a crash's 500) only stays closed with
  ``failure_mode_allow: false``; set ``status_on_error: {code: 503}`` to keep the status.

What is judged: any path a lenient router could take for chat completions (case, repeated
slashes, dot segments and a trailing slash normalised away, so ``/v1//chat/completions/`` is no
way around the check) is handled as the gateway handles ``POST /v1/chat/completions``. Every
other path only needs a valid key and is allowed unjudged, as the gateway's ``/v1/models``; an
Envoy route that sends other endpoints (``/v1/completions``, ``/v1/responses``) to the model
server lets them through without detection, so route only what you mean to serve.

A partial body (``x-envoy-auth-partial-body: true``, when ``allow_partial_message`` cut it at
``max_request_bytes``) is refused with 413 ``request_too_large``, never judged: parsing the head
as if whole, or judging on headers alone, would let a harvester pad a prompt past the limit and
skip every content detector. Set ``max_request_bytes`` at least to ``limits.max_body_bytes``.
Without ``with_request_body`` every chat request arrives empty and is refused 400: the decision
needs the prompt.

A ``degrade`` decision is allowed (``x-distillguard-action: degrade``) but *not applied*:
ext_authz cannot rewrite the upstream body or the answer. The event's reasons say so.

Exactly one event per check request: allowed ones are recorded as passed on (``response`` with
the check's status 200 and no usage, which only the model server sees), refused ones as
``rejected`` with their status. The client IP comes from ``x-forwarded-for`` when Envoy's
address is in ``trusted_proxies`` (Envoy appends the downstream address); without it every
request looks as if it came from Envoy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import posixpath
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from distillguard.config import GatewayConfig
from distillguard.engine import shared_states
from distillguard.events import Event
from distillguard.gateway.app import MAX_USER_AGENT
from distillguard.gateway.auth import KeyCache
from distillguard.gateway.checkpoint import decide_or_fail, enforce, request_context
from distillguard.gateway.clientip import ClientIpResolver
from distillguard.gateway.decision import DecisionHook
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from distillguard.gateway.metrics import Metrics
from distillguard.gateway.recording import EventDraft, EventSink
from distillguard.gateway.validation import parse_chat_request, read_body
from distillguard.logs import setup_logging
from distillguard.policy.response import ResponsePolicy
from distillguard.store.eventlog import EventLog
from distillguard.store.keys import ApiKey, KeyStore

log = logging.getLogger(__name__)

PARTIAL_BODY_HEADER = "x-envoy-auth-partial-body"
ACCOUNT_HEADER = "x-distillguard-account"
ACTION_HEADER = "x-distillguard-action"
REQUEST_ID_HEADER = "x-distillguard-request-id"
DEGRADE_NOT_APPLIED = "degrade not applied: ext_authz cannot rewrite the request or the answer"
_CHAT_SUFFIX = "/chat/completions"
# Envoy forwards whatever method the client used; the router must not refuse any of them.
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]
# Printable ASCII that may stand in a header value as is; anything else is percent-encoded.
_HEADER_SAFE = "!#$&'()*+,/:;=?@[]~ "


def normalize_prefix(prefix: str) -> str:
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ValueError(f"path_prefix must start with '/': {prefix!r}")
    return prefix


def is_chat_path(path: str) -> bool:
    """Would a lenient router serve ``path`` as chat completions?"""
    return posixpath.normpath("/" + path.lower()).endswith(_CHAT_SUFFIX)


def partial_body(received: int) -> GatewayError:
    return GatewayError(
        413,
        f"The request body is larger than the proxy passes on for checking ({received} bytes "
        "arrived, cut short); it cannot be judged, so it is refused. Send a smaller request.",
        "invalid_request_error",
        "request_too_large",
    )


@dataclass(slots=True)
class ExtAuthz:
    config: GatewayConfig
    prefix: str
    keys: KeyCache
    events: EventLog
    hook: DecisionHook
    ips: ClientIpResolver
    sink: EventSink
    metrics: Metrics

    def original_path(self, request: Request) -> str | None:
        """The client's path, or None when the check did not come under our prefix."""
        path = request.url.path
        if not self.prefix:
            return path
        if not path.startswith(self.prefix + "/"):
            return None
        return path[len(self.prefix) :]

    def now(self, request: Request) -> float:
        header = self.config.sim_clock_header
        value = request.headers.get(header) if header is not None else None
        if value is not None:
            try:
                return float(value)
            except ValueError:
                pass
        return time.time()

    def draft(self, request: Request, path: str | None) -> EventDraft:
        peer = request.client.host if request.client else None
        return EventDraft(
            ts=self.now(request),
            started=time.perf_counter(),
            request_id="req_" + secrets.token_hex(12),
            endpoint=path if path is not None else request.url.path,
            ip=self.ips.resolve(peer, request.headers.get("x-forwarded-for")),
            user_agent=request.headers.get("user-agent", "")[:MAX_USER_AGENT],
        )

    def authenticate(self, request: Request, draft: EventDraft) -> ApiKey:
        key = self.keys.authenticate(request.headers)
        draft.account_id, draft.api_key_id = key.account_id, key.key_id
        draft.account_meta = key.account_meta
        return key

    def refuse(self, draft: EventDraft, err: GatewayError) -> Response:
        draft.fail(err.status, err.code, err.message)
        self.sink.finish(draft)
        return err.to_response({REQUEST_ID_HEADER: draft.request_id})

    def allow(self, draft: EventDraft, action: str) -> Response:
        """200 with an empty body: Envoy forwards, adding these headers upstream."""
        draft.forwarded = True
        draft.status = 200
        self.sink.finish(draft)
        return Response(
            status_code=200,
            headers={
                ACCOUNT_HEADER: quote(draft.account_id, safe=_HEADER_SAFE),
                ACTION_HEADER: action,
                REQUEST_ID_HEADER: draft.request_id,
            },
        )

    async def check_chat(self, request: Request, draft: EventDraft) -> Response:
        if request.method != "POST":
            raise GatewayError(
                405,
                f"Use POST for {draft.endpoint}.",
                code="method_not_allowed",
                headers={"allow": "POST"},
            )
        key = self.authenticate(request, draft)
        raw = await read_body(request, self.config.limits.max_body_bytes)
        if request.headers.get(PARTIAL_BODY_HEADER, "").strip().lower() == "true":
            raise partial_body(len(raw))
        chat = parse_chat_request(raw, self.config.limits)
        draft.request, draft.model = chat.body, chat.model
        ctx = request_context(draft, key, chat)
        started = time.perf_counter()
        try:
            decision = decide_or_fail(self.hook, ctx, draft, self.config.fail_mode)
        finally:
            self.metrics.scoring.observe(time.perf_counter() - started)
        enforce(decision)
        if decision.action == "degrade":
            draft.decision = dataclasses.replace(
                decision, reasons=(*decision.reasons, DEGRADE_NOT_APPLIED)
            )
        return self.allow(draft, decision.action)


async def check(request: Request) -> Response:
    """One Envoy check request: refuse with the client's answer, or allow with 200."""
    authz: ExtAuthz = request.app.state.extauthz
    path = authz.original_path(request)
    draft = authz.draft(request, path)
    try:
        if path is None:
            raise GatewayError(
                404,
                f"Unknown check path {request.url.path}; Envoy's http_service.path_prefix "
                f"must be {authz.prefix!r}.",
                code="unknown_url",
            )
        if is_chat_path(path):
            return await authz.check_chat(request, draft)
        authz.authenticate(request, draft)
        return authz.allow(draft, "allow")
    except GatewayError as err:
        return authz.refuse(draft, err)
    except ClientDisconnect:
        draft.client_disconnected = True
        return authz.refuse(
            draft, GatewayError(499, "The proxy closed the connection.", code="client_disconnected")
        )
    except Exception:
        log.exception("unexpected error checking %s", draft.request_id)
        return authz.refuse(
            draft, GatewayError(500, "Internal authorization error.", "api_error", "internal_error")
        )


async def router_refusal(request: Request, exc: Exception) -> Response:
    """What the router refuses itself still gets the envelope and an event."""
    authz: ExtAuthz = request.app.state.extauthz
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    path = authz.original_path(request)
    err = GatewayError(
        status,
        f"Method {request.method} is not allowed." if status == 405 else "Unknown check path.",
        code="method_not_allowed" if status == 405 else "unknown_url",
    )
    return authz.refuse(authz.draft(request, path), err)


async def internal_error(request: Request, exc: Exception) -> Response:
    """Last resort outside the handler (no stack trace on the wire)."""
    return GatewayError(
        500, "Internal authorization error.", "api_error", "internal_error"
    ).to_response()


async def health(request: Request) -> Response:
    authz: ExtAuthz = request.app.state.extauthz
    return JSONResponse({"status": "ok", "events_pending": authz.events.pending})


async def metrics(request: Request) -> Response:
    authz: ExtAuthz = request.app.state.extauthz
    return Response(authz.metrics.exposition(authz.events.pending), media_type=METRICS_CONTENT_TYPE)


def create_extauthz_app(
    config: GatewayConfig,
    *,
    hook: DecisionHook,
    key_store: KeyStore | None = None,
    event_log: EventLog | None = None,
    path_prefix: str = "/authz",
    policy: ResponsePolicy | None = None,
) -> Starlette:
    """The ext_authz service as an ASGI app; the caller owns ``hook``, the app owns what it
    opens. ``policy`` (the response policy inside ``hook``) gets its decisions kept fresh."""
    prefix = normalize_prefix(path_prefix)
    store = key_store or KeyStore(config.auth.keys_db)
    events = event_log or EventLog(
        config.event_log.path,
        flush_interval_s=config.event_log.flush_interval_ms / 1000.0,
        max_batch=config.event_log.max_batch,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keys = KeyCache(store)
        counters = Metrics()

        def record(event: Event) -> None:
            events.append(event)
            counters.count(event)

        if policy is not None:
            counters.watch_campaigns(policy.engine.campaign_counts)
        app.state.extauthz = ExtAuthz(
            config=config,
            prefix=prefix,
            keys=keys,
            events=events,
            hook=hook,
            ips=ClientIpResolver(config.trusted_proxies),
            sink=EventSink(record, hook.observe, config.event_log.max_content_chars),
            metrics=counters,
        )
        events.start()
        tasks = [asyncio.create_task(keys.refresh_forever(config.auth.reload_interval_s))]
        tasks += [
            asyncio.create_task(shared.tail_forever(config.detection.sync_interval_s))
            for shared in shared_states(hook)
        ]
        if policy is not None:
            interval = config.response.reload_interval_s
            tasks.append(asyncio.create_task(policy.cache.refresh_forever(interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.to_thread(events.close)
            if key_store is None:
                store.close()

    # With a prefix, /healthz and /metrics are outside the checked space; without one they
    # would shadow a client's own paths, which must be checked like any other.
    routes = []
    if prefix:
        routes.append(Route("/healthz", health, methods=["GET"]))
        if config.metrics.enabled:
            routes.append(Route("/metrics", metrics, methods=["GET"]))
    routes.append(Route("/{path:path}", check, methods=_METHODS))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: router_refusal, Exception: internal_error},
    )


def run_extauthz(config: GatewayConfig, path_prefix: str = "/authz") -> None:
    """Serve the ext_authz service on ``config.listen`` with the gateway's decision hook."""
    from distillguard.gateway.server import build_hook, serve_app

    setup_logging(config.log_format)
    hook, policy = build_hook(config)
    app = create_extauthz_app(config, hook=hook, policy=policy, path_prefix=path_prefix)
    serve_app(app, config.listen.host, config.listen.port)
