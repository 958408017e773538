"""Talking to the model server: one pooled transport, errors mapped to 502/504.

The client's own API key never travels upstream; the gateway authenticates to the upstream
with its own key from config.

Requests go straight to an httpx transport, without ``httpx.AsyncClient``: the client's URL
parsing, header merging, cookie jar and auth flow cost ~0.25 ms CPU per request here and the
gateway needs none of them (a cookie jar shared by every account's requests would even be
wrong). The transport is ``HttpTransport`` (asyncio + httptools, http and https) unless a proxy
from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) applies to
the upstream, which httpx's own transport then handles; tests inject any httpx transport.
No ``accept-encoding`` is sent: a model server on the same network gains nothing from
compressing, and a compressed answer is still decoded.
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Any

import httpx
import orjson

from distillguard.config import UpstreamConfig
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.recording import EventDraft
from distillguard.gateway.transport import HttpTransport

_USER_AGENT = "distillguard-gateway"
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"application/json"), (b"accept", b"text/event-stream")]


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
        self.transport = transport or default_transport(config)
        self._common = [(b"user-agent", _USER_AGENT.encode())]
        if config.api_key:
            self._common.append((b"authorization", f"Bearer {config.api_key}".encode("latin-1")))
        connect, read = config.connect_timeout_s, config.read_timeout_s
        self._extensions = {
            "timeout": {"connect": connect, "read": read, "write": read, "pool": connect}
        }
        self._targets: dict[str, tuple[httpx.URL, list[tuple[bytes, bytes]]]] = {}

    def _request(
        self, method: str, path: str, body: bytes, extra: list[tuple[bytes, bytes]]
    ) -> httpx.Request:
        """A request built the cheap way: URL parsed once per path, headers given complete.

        ``httpx.Request(content=...)`` costs ~4x more, mostly in filling in Host and
        Content-Length through httpx's case-insensitive header lookups.
        """
        target = self._targets.get(path)
        if target is None:
            url = httpx.URL(self.base_url + path)
            target = self._targets[path] = (url, [(b"host", url.netloc), *self._common])
        url, common = target
        headers = [*common, *extra]
        if body or method == "POST":
            headers.append((b"content-length", b"%d" % len(body)))
        return httpx.Request(
            method, url, headers=headers, stream=httpx.ByteStream(body), extensions=self._extensions
        )

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            raise upstream_unreachable(exc) from exc
        response.request = request
        return response

    async def _fetch(self, request: httpx.Request) -> httpx.Response:
        """The whole response, body read."""
        response = await self._send(request)
        try:
            await response.aread()
        except httpx.HTTPError as exc:
            raise upstream_unreachable(exc) from exc
        finally:
            await response.aclose()
        return response

    async def post_json(self, path: str, body: bytes) -> httpx.Response:
        return await self._fetch(self._request("POST", path, body, _JSON))

    async def open_stream(self, path: str, body: bytes) -> httpx.Response:
        """The response with its body still to read; the caller must ``aclose`` it."""
        response = await self._send(self._request("POST", path, body, _SSE))
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
        return await self._fetch(self._request("GET", path, b"", []))


def default_transport(config: UpstreamConfig) -> httpx.AsyncBaseTransport:
    url = httpx.URL(config.base_url)
    limits = httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_keepalive_connections,
    )
    proxy = environment_proxy(url)
    if proxy is not None:
        return httpx.AsyncHTTPTransport(limits=limits, proxy=proxy)
    tls: ssl.SSLContext | None = None
    if url.scheme == "https":
        tls = httpx.create_ssl_context()  # certifi's roots; SSL_CERT_FILE/SSL_CERT_DIR honoured
    return HttpTransport(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_keepalive_connections,
        # Under the 5 s keep-alive timeout of uvicorn-based model servers (vLLM among them):
        # a connection is dropped here before the server can close it under a new request.
        keepalive_expiry=4.0,
        ssl_context=tls,
    )


def environment_proxy(url: httpx.URL) -> str | None:
    """The proxy the environment names for ``url``, as ``httpx.AsyncClient`` would use it."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return proxy


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
