"""Talking to the model server: one pooled httpx client, errors mapped to 502/504.

The client's own API key never travels upstream; the gateway authenticates to the upstream
with its own key from config.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from distillguard.config import UpstreamConfig
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.recording import EventDraft

_USER_AGENT = "distillguard-gateway"


def upstream_unreachable(exc: Exception) -> GatewayError:
    if isinstance(exc, httpx.TimeoutException):
        return GatewayError(
            504, "The model server did not answer in time.", "api_error", "upstream_timeout"
        )
    return GatewayError(
        502,
        f"The model server could not be reached ({type(exc).__name__}).",
        "api_error",
        "upstream_unavailable",
    )


def upstream_status_error(status: int, body: bytes) -> GatewayError:
    """An upstream 4xx passes through as it is; a 5xx becomes our 502."""
    message = f"The model server answered with status {status}."
    code: str | None = "upstream_error"
    type_ = "api_error"
    try:
        parsed = orjson.loads(body)
        inner = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"]
            if isinstance(inner.get("code"), str):
                code = inner["code"]
            if isinstance(inner.get("type"), str):
                type_ = inner["type"]
    except orjson.JSONDecodeError:
        pass
    if status >= 500:
        return GatewayError(502, message, "api_error", code)
    return GatewayError(status, message, type_, code)


def apply_completion(draft: EventDraft, payload: object) -> None:
    """Copy what an event keeps from a non-streaming chat.completion body."""
    if not isinstance(payload, dict):
        return
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        first = choices[0]
        message = first.get("message")
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                draft.content = message["content"]
            reasoning = message.get("reasoning_content", message.get("reasoning"))
            if isinstance(reasoning, str):
                draft.reasoning_content = reasoning
        if isinstance(first.get("finish_reason"), str):
            draft.finish_reason = first["finish_reason"]
    apply_usage(draft, payload.get("usage"))


def apply_usage(draft: EventDraft, usage: object) -> None:
    if not isinstance(usage, dict):
        return
    for name in ("prompt_tokens", "completion_tokens"):
        value = usage.get(name)
        if isinstance(value, int):
            setattr(draft, name, value)
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int):
        draft.reasoning_tokens = details["reasoning_tokens"]


class Upstream:
    def __init__(self, config: UpstreamConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = config.base_url.rstrip("/")
        headers = {"user-agent": _USER_AGENT}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self.client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                config.read_timeout_s,
                connect=config.connect_timeout_s,
                pool=config.connect_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_keepalive_connections,
            ),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def post_json(self, path: str, body: bytes) -> httpx.Response:
        try:
            return await self.client.post(
                self.base_url + path,
                content=body,
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise upstream_unreachable(exc) from exc

    async def open_stream(self, path: str, body: bytes) -> httpx.Response:
        request = self.client.build_request(
            "POST",
            self.base_url + path,
            content=body,
            headers={"content-type": "application/json", "accept": "text/event-stream"},
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise upstream_unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                body_bytes = await response.aread()
            except httpx.HTTPError:
                body_bytes = b""
            finally:
                await response.aclose()
            raise upstream_status_error(response.status_code, body_bytes)
        return response

    async def get(self, path: str) -> httpx.Response:
        try:
            return await self.client.get(self.base_url + path)
        except httpx.HTTPError as exc:
            raise upstream_unreachable(exc) from exc


def completion_body(
    body: dict[str, Any], raw: bytes, *, stream: bool, include_usage: bool
) -> bytes:
    """What to send upstream: the client's bytes, unless a stream needs usage added.

    Asking for usage on every stream lets the event and token limits use real counts; the extra
    chunk is removed before the client sees it when the client did not ask for it.
    """
    if stream and not include_usage:
        patched = dict(body)
        options = dict(patched.get("stream_options") or {})
        options["include_usage"] = True
        patched["stream_options"] = options
        return orjson.dumps(patched)
    return raw
