"""The gateway application: authenticate, read, check, decide, forward, record.

Every request to ``/v1/...`` ends as exactly one event, whatever happens to it; the
``EventDraft`` that ``finish`` turns into that event is created first and finished last.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from distillguard.config import GatewayConfig
from distillguard.countermeasures.degrade import StreamDegrader, degrade_request, degrade_response
from distillguard.countermeasures.watermark import (
    WATERMARKED,
    StreamWatermark,
    Watermarking,
    watermark_completion,
)
from distillguard.dashboard import DASHBOARD_ROUTES, open_dashboard
from distillguard.engine import shared_states
from distillguard.events import Event
from distillguard.gateway.admin import ADMIN_ROUTES, Admin
from distillguard.gateway.auth import KeyCache
from distillguard.gateway.checkpoint import decide_or_fail, enforce, request_context
from distillguard.gateway.clientip import ClientIpResolver
from distillguard.gateway.decision import Decision, DecisionHook, RequestContext
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from distillguard.gateway.metrics import Metrics
from distillguard.gateway.openapi import openapi_document
from distillguard.gateway.recording import EventDraft, EventSink
from distillguard.gateway.streaming import StreamRelay
from distillguard.gateway.upstream import (
    Upstream,
    apply_completion,
    completion_body,
    upstream_status_error,
)
from distillguard.gateway.validation import parse_chat_request, read_body
from distillguard.policy.response import ResponsePolicy
from distillguard.store.eventlog import EventLog
from distillguard.store.keys import KeyStore

log = logging.getLogger(__name__)

_JSON = "application/json"
MAX_USER_AGENT = 512


@dataclass(slots=True)
class Gateway:
    config: GatewayConfig
    keys: KeyCache
    events: EventLog
    hook: DecisionHook
    upstream: Upstream
    ips: ClientIpResolver
    sink: EventSink
    metrics: Metrics
    watermark: Watermarking | None = None

    def now(self, request: Request) -> float:
        header = self.config.sim_clock_header
        if header is not None:
            value = request.headers.get(header)
            if value is not None:
                try:
                    return float(value)
                except ValueError:
                    pass
        return time.time()

    def draft(self, request: Request) -> EventDraft:
        peer = request.client.host if request.client else None
        return EventDraft(
            ts=self.now(request),
            started=time.perf_counter(),
            request_id="req_" + secrets.token_hex(12),
            endpoint=request.url.path,
            ip=self.ips.resolve(peer, request.headers.get("x-forwarded-for")),
            # Headers have no size limit in the HTTP parser; the event keeps a bounded copy.
            user_agent=request.headers.get("user-agent", "")[:MAX_USER_AGENT],
        )

    def refuse(self, draft: EventDraft, err: GatewayError) -> Response:
        draft.fail(err.status, err.code, err.message)
        self.sink.finish(draft)
        return err.to_response({"x-request-id": draft.request_id})

    def decide(self, ctx: RequestContext, draft: EventDraft) -> Decision:
        started = time.perf_counter()
        try:
            return decide_or_fail(self.hook, ctx, draft, self.config.fail_mode)
        finally:
            self.metrics.scoring.observe(time.perf_counter() - started)


def watermarking(config: GatewayConfig) -> Watermarking | None:
    wm = config.watermark
    if wm.mode == "off" or wm.secret is None:
        return None
    return Watermarking(wm.mode, wm.secret, per_account=wm.per_account, lexicon=wm.lexicon)


async def chat_completions(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    draft = gw.draft(request)
    try:
        if request.method != "POST":
            raise GatewayError(
                405,
                "Use POST for /v1/chat/completions.",
                code="method_not_allowed",
                headers={"allow": "POST"},
            )
        key = gw.keys.authenticate(request.headers)
        draft.account_id, draft.api_key_id = key.account_id, key.key_id
        draft.account_meta = key.account_meta
        raw = await read_body(request, gw.config.limits.max_body_bytes)
        chat = parse_chat_request(raw, gw.config.limits)
        draft.request, draft.model = chat.body, chat.model
        decision = gw.decide(
            request_context(draft, key, chat),
            draft,
        )
        enforce(decision)
        degrade = decision.degrade if decision.action == "degrade" else None
        if degrade is not None:
            degraded, changes = degrade_request(chat.body, degrade)
            raw = orjson.dumps(degraded)
            chat = dataclasses.replace(chat, body=degraded)
            draft.decision = dataclasses.replace(decision, reasons=(*decision.reasons, *changes))
        mark = gw.watermark.for_request(decision.action, key.account_id) if gw.watermark else None
        if mark is not None and draft.decision is not None:
            reasons = (*draft.decision.reasons, WATERMARKED)
            draft.decision = dataclasses.replace(draft.decision, reasons=reasons)
        body = completion_body(chat.body, raw, stream=chat.stream, include_usage=chat.include_usage)
        headers = {"x-request-id": draft.request_id}
        draft.forwarded = True
        if chat.stream:
            upstream = await gw.upstream.open_stream("/chat/completions", body)
            return StreamRelay(
                upstream,
                draft,
                gw.sink.finish,
                client_wants_usage=chat.include_usage,
                headers=headers,
                transforms=[
                    *([StreamDegrader(degrade)] if degrade is not None else []),
                    *([StreamWatermark(mark)] if mark is not None else []),
                ],
            )
        answer = await gw.upstream.post_json("/chat/completions", body)
        if answer.status_code >= 400:
            raise upstream_status_error(answer.status_code, answer.content)
        content = answer.content
        try:
            completion = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise GatewayError(
                502, "The model server returned invalid JSON.", "api_error", "upstream_invalid"
            ) from exc
        if isinstance(completion, dict) and (degrade is not None or mark is not None):
            if degrade is not None:
                completion = degrade_response(completion, degrade)
            if mark is not None:
                completion = watermark_completion(completion, mark)
            content = orjson.dumps(completion)
        apply_completion(draft, completion)
        draft.status = answer.status_code
        gw.sink.finish(draft)
        return Response(content, status_code=answer.status_code, media_type=_JSON, headers=headers)
    except GatewayError as err:
        return gw.refuse(draft, err)
    except ClientDisconnect:
        draft.client_disconnected = True
        return gw.refuse(
            draft,
            GatewayError(499, "The client closed the connection.", code="client_disconnected"),
        )
    except Exception:
        log.exception("unexpected error handling %s", draft.request_id)
        return gw.refuse(
            draft, GatewayError(500, "Internal gateway error.", "api_error", "internal_error")
        )


async def list_models(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    draft = gw.draft(request)
    try:
        key = gw.keys.authenticate(request.headers)
        draft.account_id, draft.api_key_id = key.account_id, key.key_id
        draft.forwarded = True
        answer = await gw.upstream.get("/models")
        if answer.status_code >= 400:
            raise upstream_status_error(answer.status_code, answer.content)
        draft.status = answer.status_code
        gw.sink.finish(draft)
        return Response(
            answer.content,
            status_code=200,
            media_type=_JSON,
            headers={"x-request-id": draft.request_id},
        )
    except GatewayError as err:
        return gw.refuse(draft, err)


async def not_found(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    draft = gw.draft(request)
    return gw.refuse(
        draft,
        GatewayError(
            404, f"Unknown endpoint {request.method} {request.url.path}.", code="unknown_url"
        ),
    )


async def router_refusal(request: Request, exc: Exception) -> Response:
    """What the router itself refuses (odd methods, ``*`` targets, paths it cannot match)
    still gets the envelope and an event."""
    gw: Gateway = request.app.state.gateway
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if status == 405:
        err = GatewayError(
            405,
            f"Method {request.method} is not allowed for {request.url.path}.",
            code="method_not_allowed",
            headers=dict(getattr(exc, "headers", None) or {}),
        )
    else:
        err = GatewayError(
            404, f"Unknown endpoint {request.method} {request.url.path}.", code="unknown_url"
        )
    return gw.refuse(gw.draft(request), err)


async def openapi(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    return JSONResponse(openapi_document(gw.config.limits))


async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if not gw.config.metrics.enabled:
        return await not_found(request)
    body = gw.metrics.exposition(gw.events.pending)
    return Response(body, media_type=METRICS_CONTENT_TYPE)


async def health(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    return JSONResponse({"status": "ok", "events_pending": gw.events.pending})


_ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_gateway_app(
    config: GatewayConfig,
    *,
    hook: DecisionHook,
    key_store: KeyStore | None = None,
    event_log: EventLog | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: ResponsePolicy | None = None,
) -> Starlette:
    """The gateway as an ASGI app; the caller owns ``hook``, the app owns what it opens.
    ``policy`` (the response policy inside ``hook``) gets its decisions kept fresh and, with
    an admin token configured, the admin API."""
    store = key_store or KeyStore(config.auth.keys_db)
    events = event_log or EventLog(
        config.event_log.path,
        flush_interval_s=config.event_log.flush_interval_ms / 1000.0,
        max_batch=config.event_log.max_batch,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        counters = Metrics()

        def record(event: Event) -> None:
            events.append(event)
            counters.count(event)

        gw = Gateway(
            config=config,
            keys=KeyCache(store),
            events=events,
            hook=hook,
            upstream=Upstream(config.upstream, transport),
            ips=ClientIpResolver(config.trusted_proxies),
            sink=EventSink(record, hook.observe, config.event_log.max_content_chars),
            metrics=counters,
            watermark=watermarking(config),
        )
        if policy is not None:
            counters.watch_campaigns(policy.engine.campaign_counts)
        app.state.gateway = gw
        events.start()
        # Start-up objects live for the process: keep them out of the collector's full
        # passes, which otherwise cost tens of milliseconds on the p99 latency.
        gc.freeze()
        tasks = [asyncio.create_task(gw.keys.refresh_forever(config.auth.reload_interval_s))]
        for shared in shared_states(hook):
            tasks.append(asyncio.create_task(shared.tail_forever(config.detection.sync_interval_s)))
            counters.watch_shared_state(shared)
        if policy is not None:
            interval = config.response.reload_interval_s
            tasks.append(asyncio.create_task(policy.cache.refresh_forever(interval)))
            if config.admin.token:
                app.state.admin = admin = Admin(config.admin.token, policy)
                if config.dashboard.enabled:
                    app.state.dashboard = open_dashboard(config, admin)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await gw.upstream.aclose()
            await asyncio.to_thread(events.close)
            if key_store is None:
                store.close()

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=_ALL),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *ADMIN_ROUTES,
        *DASHBOARD_ROUTES,
        Route("/{path:path}", not_found, methods=_ALL),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: router_refusal}
    )
