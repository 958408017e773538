"""An HTTP/1.1 client transport for httpx on asyncio and httptools, with a keep-alive pool.

Why not httpx's own (httpcore) transport: client CPU per POST to the replay upstream on the
2-core dev machine (1 and 32 in flight) was 1.3-2.5 ms with ``httpx.AsyncClient`` and httpcore
(anyio stream wrappers, a socket readability check per request, h11), 0.65-0.77 ms with the
``httpx-aiohttp`` transport, 0.20-0.25 ms with aiohttp alone, and 0.14-0.19 ms with this
transport called by ``Upstream``. It uses asyncio's own transports (uvloop's under the
gateway), so connection I/O and TLS run in C, and parses answers with httptools, the C parser
uvicorn already uses.

What it does: HTTP/1.1 over TCP or TLS; a pool per origin with a global ``max_connections``,
``max_keepalive_connections`` and ``keepalive_expiry``; pool, connect, read and write timeouts
from httpx's ``timeout`` request extension; response bodies delivered incrementally as they
arrive (reading pauses when more than 256 KiB wait unread); httpx's exception types, so callers
handle it like the default transport. What it does not: HTTP/2, proxies, retries. A connection
is reused only after its response was read to the end; a response abandoned part-way closes
its connection, which is what tells an upstream to stop generating.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast

import httptools
import httpx

__all__ = ["HttpTransport"]

_Origin = tuple[bytes, str, int]  # scheme, host, port
_HIGH_WATER = 256 * 1024  # unread body bytes at which reading pauses
_NO_BODY_STATUS = frozenset({204, 304})


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time; callbacks from asyncio and httptools."""

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[bool] | None = None
        self._active = False  # an exchange is in progress
        self._write_paused = False
        self._reset(b"GET")

    def _reset(self, method: bytes) -> None:
        self._method = method
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._framed = False  # content-length or chunked: the body's end is known
        self._head_done = False
        self._interim = False
        self._ignoring = False
        self._body: list[bytes] = []
        self._buffered = 0
        self._read_paused = False
        self._complete = False
        self._keep_alive = False
        self._error: httpx.TransportError | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self._active or self._complete:
            self.close()  # bytes nobody asked for: the connection's state is unknown
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response: {exc!r}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._active and not self._complete:
            if self._head_done and not self._framed and exc is None:
                self._complete = True  # a body delimited by the connection's end
            elif exc is not None:
                self._fail(httpx.ReadError(f"{type(exc).__name__}: {exc}"))
            elif self._head_done:
                self._fail(
                    httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                )
            else:
                self._fail(
                    httpx.RemoteProtocolError("Server disconnected without sending a response.")
                )
        self._wake()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # --- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer to one request: ignore it, drop the connection
            self._keep_alive = False
            self._ignoring = True
            return
        self._headers = []
        self._framed = False

    def on_status(self, status: bytes) -> None:
        if not self._ignoring:
            self._reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._ignoring:
            return
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        if self._ignoring:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # 100 Continue, 103 Early Hints: wait for the real answer
            return
        self._status = status
        self._head_done = True
        if self._method == b"HEAD" or status in _NO_BODY_STATUS:
            self._framed = True
            if self._method == b"HEAD":
                # httptools cannot be told that a HEAD answer has no body, so the exchange
                # ends here and the connection is not reused.
                self._complete = True
                self._keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._read_paused and self.transport:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if not self._complete:
            self._complete = True
            self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    # --- used by the transport ----------------------------------------------------------------

    def _fail(self, error: httpx.TransportError) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def _wait(self, limit_s: float | None) -> bool:
        """Until a callback wakes us (True) or ``limit_s`` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = None if limit_s is None else loop.call_later(limit_s, _expire, waiter)
        try:
            return await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def reusable(self, now: float, expiry: float) -> bool:
        return not self.closed and now - self.idle_since <= expiry

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def send(self, method: bytes, head: bytes, request: httpx.Request) -> None:
        """Write the request; ``head`` ends with the blank line."""
        transport = self.transport
        if transport is None or self.closed:
            raise httpx.WriteError("the connection is closed")
        self._reset(method)
        self._active = True
        timeouts = request.extensions.get("timeout", {})
        try:
            content: bytes | None = request.content
        except httpx.RequestNotRead:  # built with stream=: bytes in a ByteStream, or a stream
            content = request.read() if isinstance(request.stream, httpx.ByteStream) else None
        if content is not None:
            if len(content) < 65536:
                transport.write(head + content)
            else:
                transport.write(head)
                transport.write(content)
            await self._drain(timeouts.get("write"))
            return
        transport.write(head)
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        stream = cast(AsyncIterator[bytes], request.stream)
        async for part in stream:
            if not part:
                continue
            transport.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await self._drain(timeouts.get("write"))
        if chunked:
            transport.write(b"0\r\n\r\n")
        await self._drain(timeouts.get("write"))

    async def _drain(self, limit_s: float | None) -> None:
        while self._write_paused:
            if self.closed:
                raise httpx.WriteError("connection closed while sending the request")
            if not await self._wait(limit_s):
                raise httpx.WriteTimeout("timed out sending the request")

    async def receive_head(
        self, limit_s: float | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], str]:
        while not self._head_done:
            if self._error is not None:
                raise self._error
            if self.closed:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            if not await self._wait(limit_s):
                raise httpx.ReadTimeout("timed out waiting for the response")
        version = self._parser.get_http_version()
        return self._status, self._reason, self._headers, version

    async def receive_body(self, limit_s: float | None) -> bytes | None:
        """What has arrived since the last call, waiting for some; None after the end."""
        while True:
            if self._body:
                body = self._body
                data = body[0] if len(body) == 1 else b"".join(body)
                self._body = []
                self._buffered = 0
                if self._read_paused and self.transport is not None and not self.closed:
                    self._read_paused = False
                    self.transport.resume_reading()
                return data
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            if not await self._wait(limit_s):
                raise httpx.ReadTimeout("timed out reading the response body")

    def finished(self) -> bool:
        """The response was received in full and the connection can carry another one."""
        self._active = False
        return self._complete and self._keep_alive and self._error is None and not self.closed


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class _Pool:
    """Connections per origin under one global limit; waiters are served in arrival order.

    A released connection goes straight to the first waiter for its origin; a closed one hands
    its slot to the first waiter (who then connects), so a waiter is never overtaken.
    """

    def __init__(self, max_connections: int, max_keepalive: int, expiry: float) -> None:
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.expiry = expiry
        self.count = 0  # slots in use: connections open or being opened
        self.open: set[_Connection] = set()
        self.idle: dict[_Origin, list[_Connection]] = {}
        self.idle_count = 0
        self.waiters: collections.deque[tuple[_Origin, asyncio.Future[_Connection | None]]] = (
            collections.deque()
        )
        self.closed = False

    def take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self.idle.get(origin)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have timed out
            self.idle_count -= 1
            if conn.reusable(now, self.expiry):
                return conn
            self._drop(conn)
        return None

    def evict_idle(self) -> None:
        """Close the oldest idle connection of any origin to free its slot."""
        for idle in self.idle.values():
            if idle:
                self.idle_count -= 1
                self._drop(idle.pop(0))
                return

    async def wait(self, origin: _Origin, limit_s: float | None) -> _Connection | None:
        """A connection for ``origin``, or None: a free slot to connect with."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        entry = (origin, waiter)
        self.waiters.append(entry)
        timer = None if limit_s is None else loop.call_later(limit_s, _pool_timeout, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # handed over just as we were cancelled
            raise
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):
                self.waiters.remove(entry)

    def add(self, conn: _Connection) -> None:
        self.open.add(conn)

    def release(self, conn: _Connection | None, reuse: bool = True) -> None:
        """Give back a connection, or with None a slot whose connection never opened."""
        if conn is None:
            self._free_slot()
            return
        if not reuse or conn.closed or self.closed:
            self._drop(conn)
            return
        for entry in self.waiters:
            if entry[0] == conn.origin and not entry[1].done():
                self.waiters.remove(entry)
                entry[1].set_result(conn)
                return
        if self.idle_count < self.max_keepalive and not self.waiters:
            conn.idle_since = time.monotonic()
            self.idle.setdefault(conn.origin, []).append(conn)
            self.idle_count += 1
            return
        self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self.open.discard(conn)
        self._free_slot()

    def _free_slot(self) -> None:
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self.count -= 1

    def close(self) -> None:
        self.closed = True
        for conn in self.open:
            conn.close()
        self.open.clear()
        self.idle.clear()
        self.idle_count = 0
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(httpx.PoolTimeout("the transport was closed"))


def _pool_timeout(waiter: asyncio.Future[_Connection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.PoolTimeout("timed out waiting for a connection"))


class _ResponseStream(httpx.AsyncByteStream):
    """The body as it arrives; gives the connection back to the pool at the end."""

    def __init__(self, pool: _Pool, conn: _Connection, limit_s: float | None) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._limit_s = limit_s

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        try:
            data = await conn.receive_body(self._limit_s)
        except BaseException:
            self._done()
            raise
        if data is None:
            self._done()
            raise StopAsyncIteration
        return data

    def _done(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, conn.finished())

    async def aclose(self) -> None:
        # Before the end of the body this closes the connection: how an upstream learns that
        # nobody wants the rest (and stops generating it).
        self._done()


class HttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio with httptools; see the module docstring for what it covers."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._pool = _Pool(max_connections, max_keepalive_connections, keepalive_expiry)
        self._ssl = ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        port = url.port or (443 if scheme == b"https" else 80)
        origin: _Origin = (scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        method = request.method.encode("ascii")
        head = _request_head(method, url.raw_path, request.headers.raw)
        conn = await self._acquire(origin, request, timeouts)
        try:
            await conn.send(method, head, request)
            status, reason, headers, version = await conn.receive_head(timeouts.get("read"))
        except BaseException:
            conn.finished()
            self._pool.release(conn, reuse=False)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_ResponseStream(self._pool, conn, timeouts.get("read")),
            extensions={
                "http_version": b"HTTP/" + version.encode("ascii"),
                "reason_phrase": reason,
            },
        )

    async def _acquire(
        self, origin: _Origin, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> _Connection:
        pool = self._pool
        while True:
            if pool.closed:
                raise httpx.ConnectError("the transport is closed")
            conn = pool.take_idle(origin)
            if conn is not None:
                return conn
            if not pool.waiters:  # waiting callers go first
                if pool.count >= pool.max_connections:
                    pool.evict_idle()
                if pool.count < pool.max_connections:
                    pool.count += 1
                    return await self._connect_in_slot(origin, request, timeouts)
            conn = await pool.wait(origin, timeouts.get("pool"))
            if conn is None:
                return await self._connect_in_slot(origin, request, timeouts)
            if not conn.closed:
                return conn
            pool.release(conn, reuse=False)  # closed by the server while handed over

    async def _connect_in_slot(
        self, origin: _Origin, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> _Connection:
        try:
            conn = await self._connect(origin, request, timeouts.get("connect"))
        except BaseException:
            self._pool.release(None)
            raise
        self._pool.add(conn)
        return conn

    async def _connect(
        self, origin: _Origin, request: httpx.Request, limit_s: float | None
    ) -> _Connection:
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if scheme == b"https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            tls = self._ssl
            sni = request.extensions.get("sni_hostname")
            server_hostname = sni.decode("ascii") if isinstance(sni, bytes) else sni or host
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(limit_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(origin),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=server_hostname,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{host}:{port}: {exc}") from exc
        return conn

    async def aclose(self) -> None:
        self._pool.close()


def _request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (method, target or b"/")]
    lines += [name + b": " + value for name, value in headers]
    blob = b"\r\n".join(lines)
    # httpx does not reject CR or LF inside a header; a line break there would split the
    # request into two, so refuse it.
    if blob.count(b"\n") != len(lines) - 1 or blob.count(b"\r") != len(lines) - 1:
        raise httpx.LocalProtocolError("line break in the request line or a header")
    return blob + b"\r\n\r\n"
