"""The gateway's upstream transport (asyncio + httptools) against real servers on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message

from distillguard.config import UpstreamConfig
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.recording import EventDraft
from distillguard.gateway.streaming import StreamRelay
from distillguard.gateway.transport import HttpTransport
from distillguard.gateway.upstream import Upstream
from distillguard.procs import free_port
from servers import serve_in_thread

TIMEOUTS = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}


def pattern(n: int) -> bytes:
    """n deterministic bytes, different at every offset that matters."""
    block = hashlib.sha256(b"seed").digest() * 64  # 2 KiB
    return (block * (n // len(block) + 1))[:n]


class Upstream4Test:
    """A Starlette app that says which connection each request came on."""

    def __init__(self) -> None:
        self.peers: list[int] = []
        self.active = 0
        self.max_active = 0
        self.gate = threading.Event()
        self.stream_closed = threading.Event()

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            self.peers.append(request.client.port if request.client else 0)
            body = await request.body()
            return Response(body, headers={"x-method": request.method})

        async def chunked(request: Request) -> Response:
            parts = int(request.query_params.get("parts", "5"))

            async def gen() -> AsyncIterator[bytes]:
                for i in range(parts):
                    yield b"part-%d;" % i

            return StreamingResponse(gen())

        async def big(request: Request) -> Response:
            return Response(pattern(int(request.query_params["n"])))

        async def slow(request: Request) -> Response:
            await asyncio.sleep(float(request.query_params["s"]))
            return Response(b"late")

        async def gated(request: Request) -> Response:
            async def gen() -> AsyncIterator[bytes]:
                try:
                    yield b"first"
                    deadline = time.monotonic() + 5
                    while not self.gate.is_set() and time.monotonic() < deadline:
                        await asyncio.sleep(0.005)
                    yield b"second"
                    while True:  # endless unless the client goes away
                        await asyncio.sleep(0.01)
                        yield b"."
                finally:
                    self.stream_closed.set()

            return StreamingResponse(gen())

        async def hold(request: Request) -> Response:
            self.peers.append(request.client.port if request.client else 0)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                await asyncio.sleep(0.01)
            finally:
                self.active -= 1
            return Response(request.query_params["i"].encode())

        async def status(request: Request) -> Response:
            code = int(request.path_params["code"])
            error = {"message": f"status {code}", "type": "invalid_request_error", "code": "x"}
            return JSONResponse({"error": error}, status_code=code)

        async def no_content(request: Request) -> Response:
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/echo", echo, methods=["GET", "POST", "HEAD"]),
                Route("/chunked", chunked, methods=["GET", "POST"]),
                Route("/big", big),
                Route("/slow", slow),
                Route("/gated", gated),
                Route("/hold", hold),
                Route("/status/{code}", status, methods=["GET", "POST"]),
                Route("/empty", no_content),
            ]
        )


@pytest.fixture
def upstream() -> Iterator[tuple[str, Upstream4Test]]:
    test_app = Upstream4Test()
    with serve_in_thread(test_app.app()) as url:
        yield url, test_app


async def fetch(
    transport: httpx.AsyncBaseTransport,
    method: str,
    url: str,
    content: bytes | None = None,
    extensions: dict[str, Any] | None = None,
) -> httpx.Response:
    request = httpx.Request(method, url, content=content, extensions=extensions or TIMEOUTS)
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


async def test_keep_alive_reuses_one_connection(upstream: tuple[str, Upstream4Test]) -> None:
    url, app = upstream
    async with HttpTransport() as transport:
        for i in range(5):
            response = await fetch(transport, "POST", url + "/echo", b"hello %d" % i)
            assert response.status_code == 200
            assert response.content == b"hello %d" % i
            assert response.headers["content-length"] == str(len(response.content))
            assert response.extensions["http_version"] == b"HTTP/1.1"
    assert len(app.peers) == 5 and len(set(app.peers)) == 1


async def test_chunked_content_length_and_empty_bodies(
    upstream: tuple[str, Upstream4Test],
) -> None:
    url, app = upstream
    async with HttpTransport() as transport:
        chunked = await fetch(transport, "GET", url + "/chunked?parts=50")
        assert chunked.headers["transfer-encoding"] == "chunked"
        assert chunked.content == b"".join(b"part-%d;" % i for i in range(50))
        sized = await fetch(transport, "GET", url + "/big?n=1000")
        assert sized.content == pattern(1000)
        empty = await fetch(transport, "GET", url + "/empty")
        assert empty.status_code == 204 and empty.content == b""
        head = await fetch(transport, "HEAD", url + "/echo")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["x-method"] == "HEAD"
        after = await fetch(transport, "POST", url + "/echo", b"still fine")
        assert after.content == b"still fine"


async def test_request_body_streamed_with_chunked_encoding(
    upstream: tuple[str, Upstream4Test],
) -> None:
    url, _ = upstream

    async def parts() -> AsyncIterator[bytes]:
        for i in range(20):
            yield b"piece %d|" % i

    async with HttpTransport() as transport:
        request = httpx.Request("POST", url + "/echo", content=parts(), extensions=TIMEOUTS)
        assert request.headers["transfer-encoding"] == "chunked"
        response = await transport.handle_async_request(request)
        assert await response.aread() == b"".join(b"piece %d|" % i for i in range(20))
        await response.aclose()


async def test_large_bodies_both_ways(upstream: tuple[str, Upstream4Test]) -> None:
    url, _ = upstream
    size = 8 * 1024 * 1024 + 13
    async with HttpTransport() as transport:
        echoed = await fetch(transport, "POST", url + "/echo", pattern(size))
        assert hashlib.sha256(echoed.content).digest() == hashlib.sha256(pattern(size)).digest()
        # Read slowly: the transport pauses reading past its high-water mark and resumes.
        request = httpx.Request("GET", url + f"/big?n={size}", extensions=TIMEOUTS)
        response = await transport.handle_async_request(request)
        digest, received = hashlib.sha256(), 0
        async for part in response.aiter_raw():
            digest.update(part)
            received += len(part)
            if received < 2 * 1024 * 1024:
                await asyncio.sleep(0.002)
        await response.aclose()
        assert received == size and digest.digest() == hashlib.sha256(pattern(size)).digest()


async def test_streaming_delivers_each_part_as_it_arrives(
    upstream: tuple[str, Upstream4Test],
) -> None:
    url, app = upstream
    async with HttpTransport() as transport:
        request = httpx.Request("GET", url + "/gated", extensions=TIMEOUTS)
        response = await transport.handle_async_request(request)
        parts = response.aiter_raw()
        # The server holds "second" back until the gate opens: "first" must come alone.
        assert await asyncio.wait_for(anext(parts), 2) == b"first"
        app.gate.set()
        received = b""
        while len(received) < len(b"second..."):
            received += await asyncio.wait_for(anext(parts), 2)
        assert received.startswith(b"second")
        # Leaving the endless stream early closes the connection: the server sees it.
        await response.aclose()
        assert await asyncio.to_thread(app.stream_closed.wait, 3)
        again = await fetch(transport, "POST", url + "/echo", b"next")
        assert again.content == b"next"


async def test_64_concurrent_requests_through_a_pool_of_8(
    upstream: tuple[str, Upstream4Test],
) -> None:
    url, app = upstream
    async with HttpTransport(max_connections=8, max_keepalive_connections=8) as transport:

        async def one(i: int) -> bytes:
            response = await fetch(transport, "GET", url + f"/hold?i={i}")
            assert response.status_code == 200
            return response.content

        for _ in range(2):
            results = await asyncio.gather(*(one(i) for i in range(64)))
            assert results == [b"%d" % i for i in range(64)]
    assert app.max_active <= 8
    assert len(set(app.peers)) <= 8
    assert len(app.peers) == 128


async def test_a_full_pool_times_out(upstream: tuple[str, Upstream4Test]) -> None:
    url, app = upstream
    async with HttpTransport(max_connections=1) as transport:
        held = await transport.handle_async_request(
            httpx.Request("GET", url + "/gated", extensions=TIMEOUTS)
        )
        short = {"timeout": {**TIMEOUTS["timeout"], "pool": 0.1}}
        with pytest.raises(httpx.PoolTimeout):
            await fetch(transport, "GET", url + "/echo", extensions=short)
        waiting = asyncio.create_task(fetch(transport, "POST", url + "/echo", b"queued"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        app.gate.set()
        await held.aclose()  # frees the only slot for the waiting request
        assert (await asyncio.wait_for(waiting, 3)).content == b"queued"


async def test_connect_refused_is_connect_error_and_502() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with HttpTransport() as transport:
        with pytest.raises(httpx.ConnectError):
            await fetch(transport, "GET", url + "/echo")
    upstream = Upstream(UpstreamConfig(base_url=url + "/v1", connect_timeout_s=2))
    try:
        with pytest.raises(GatewayError) as info:
            await upstream.post_json("/chat/completions", b"{}")
        assert info.value.status == 502 and info.value.code == "upstream_unavailable"
        assert "ConnectError" in info.value.message
        with pytest.raises(GatewayError) as streamed:
            await upstream.open_stream("/chat/completions", b"{}")
        assert streamed.value.status == 502
    finally:
        await upstream.aclose()


async def test_read_timeout_is_read_timeout_and_504(upstream: tuple[str, Upstream4Test]) -> None:
    url, _ = upstream
    short = {"timeout": {**TIMEOUTS["timeout"], "read": 0.2}}
    async with HttpTransport() as transport:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await fetch(transport, "GET", url + "/slow?s=2", extensions=short)
        assert time.monotonic() - started < 1.5
        # The timed-out connection is not reused; the next request works.
        assert (await fetch(transport, "POST", url + "/echo", b"ok")).content == b"ok"
    upstream_ = Upstream(UpstreamConfig(base_url=url, read_timeout_s=0.2))
    try:
        with pytest.raises(GatewayError) as info:
            await upstream_.get("/slow?s=2")
        assert info.value.status == 504 and info.value.code == "upstream_timeout"
    finally:
        await upstream_.aclose()


async def test_upstream_status_mapping_is_unchanged(upstream: tuple[str, Upstream4Test]) -> None:
    url, _ = upstream
    upstream_ = Upstream(UpstreamConfig(base_url=url))
    try:
        answer = await upstream_.post_json("/status/400", b"{}")
        assert answer.status_code == 400 and answer.json()["error"]["message"] == "status 400"
        with pytest.raises(GatewayError) as client_error:
            await upstream_.open_stream("/status/404", b"{}")
        assert client_error.value.status == 404 and client_error.value.code == "x"
        with pytest.raises(GatewayError) as server_error:
            await upstream_.open_stream("/status/503", b"{}")
        assert server_error.value.status == 502 and server_error.value.message == "status 503"
        assert (await upstream_.post_json("/echo", b"after")).content == b"after"
    finally:
        await upstream_.aclose()


async def test_idle_connections_expire(upstream: tuple[str, Upstream4Test]) -> None:
    url, app = upstream
    async with HttpTransport(keepalive_expiry=0.05) as transport:
        await fetch(transport, "POST", url + "/echo", b"1")
        await fetch(transport, "POST", url + "/echo", b"2")
        await asyncio.sleep(0.2)
        await fetch(transport, "POST", url + "/echo", b"3")
    assert app.peers[0] == app.peers[1] != app.peers[2]


@pytest.mark.parametrize("kind", ["ours", "httpcore"])
async def test_upstream_requests_work_on_either_transport(
    upstream: tuple[str, Upstream4Test], kind: str
) -> None:
    """Upstream builds its requests by hand; httpx's own transport must take them as well."""
    url, _ = upstream
    config = UpstreamConfig(base_url=url, api_key="sk-upstream")
    transport = HttpTransport() if kind == "ours" else httpx.AsyncHTTPTransport()
    upstream_ = Upstream(config, transport)
    try:
        answer = await upstream_.post_json("/echo", b'{"a": 1}')
        assert answer.status_code == 200 and answer.content == b'{"a": 1}'
        assert answer.headers["x-method"] == "POST"
        assert (await upstream_.get("/big?n=10")).content == pattern(10)
        streamed = await upstream_.open_stream("/chunked?parts=3", b"{}")
        assert b"".join([part async for part in streamed.aiter_bytes()]) == b"part-0;part-1;part-2;"
        await streamed.aclose()
    finally:
        await upstream_.aclose()


def test_a_proxy_from_the_environment_selects_httpx_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = UpstreamConfig(base_url="http://model.internal:8000/v1")
    assert isinstance(Upstream(base).transport, HttpTransport)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert isinstance(Upstream(base).transport, httpx.AsyncHTTPTransport)
    monkeypatch.setenv("NO_PROXY", "model.internal")
    assert isinstance(Upstream(base).transport, HttpTransport)


@contextmanager
def raw_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> Iterator[str]:
    """A hand-written HTTP server in its own thread, for answers no real server gives."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Future[None] = loop.create_future()
    port = free_port()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        started.set()
        async with server:
            await stop
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:  # handlers still waiting on their clients
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(10)
        loop.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 10,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-le",
        b"",
    ],
    ids=["content-length", "chunked", "in-the-head", "before-the-head"],
)
async def test_server_closing_mid_answer_is_an_error(answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    with raw_server(handler) as url:
        async with HttpTransport() as transport:
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(transport, "GET", url + "/")
        upstream_ = Upstream(UpstreamConfig(base_url=url))
        try:
            with pytest.raises(GatewayError) as info:
                await upstream_.get("/x")
            assert info.value.status == 502
        finally:
            await upstream_.aclose()


async def test_garbage_answer_and_body_until_close() -> None:
    answers = iter(
        [
            b"NOT HTTP AT ALL\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nthe body ends when the connection does",
        ]
    )

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(next(answers))
        await writer.drain()
        writer.close()

    with raw_server(handler) as url:
        async with HttpTransport() as transport:
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(transport, "GET", url + "/")
            response = await fetch(transport, "GET", url + "/")
            assert response.content == b"the body ends when the connection does"


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # as a server does when its keep-alive timeout passes

    with raw_server(handler) as url:
        async with HttpTransport() as transport:
            for _ in range(3):
                assert (await fetch(transport, "GET", url + "/")).content == b"ok"
                await asyncio.sleep(0.2)
    assert connections == 3


async def test_interim_answers_are_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
            b"HTTP/1.1 201 Created\r\ncontent-length: 4\r\nx-final: yes\r\n\r\ndone"
        )
        await writer.drain()
        writer.close()

    with raw_server(handler) as url:
        async with HttpTransport() as transport:
            response = await fetch(transport, "GET", url + "/")
    assert response.status_code == 201 and response.content == b"done"
    assert response.headers["x-final"] == "yes" and "link" not in response.headers


async def test_an_unasked_second_answer_is_ignored_and_the_connection_dropped() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-first: yes\r\n\r\nfirst"
            b"HTTP/1.1 500 Oops\r\ncontent-length: 6\r\nx-second: yes\r\n\r\nsec"
        )
        await writer.drain()
        await reader.read()  # until the client drops the connection
        writer.close()

    with raw_server(handler) as url:
        async with HttpTransport() as transport:
            for _ in range(2):
                response = await fetch(transport, "GET", url + "/")
                assert (response.status_code, response.content) == (200, b"first")
                assert "x-second" not in response.headers
    assert connections == 2


async def test_header_injection_is_refused(upstream: tuple[str, Upstream4Test]) -> None:
    url, _ = upstream
    async with HttpTransport() as transport:
        request = httpx.Request("GET", url + "/echo", headers={"x-a": "1\r\nx-b: 2"})
        with pytest.raises(httpx.LocalProtocolError):
            await transport.handle_async_request(request)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    port = free_port()
    config = uvicorn.Config(
        Upstream4Test().app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            await asyncio.sleep(0.01)
        trusted = ssl.create_default_context(cafile=str(cert))
        async with HttpTransport(ssl_context=trusted) as transport:
            for i in range(3):
                response = await fetch(
                    transport, "POST", f"https://127.0.0.1:{port}/echo", b"%d" % i
                )
                assert response.content == b"%d" % i
            big = await fetch(transport, "GET", f"https://127.0.0.1:{port}/big?n=3000000")
            assert big.content == pattern(3_000_000)
        async with HttpTransport() as untrusting:  # the system's roots: self-signed is refused
            with pytest.raises(httpx.ConnectError):
                await fetch(untrusting, "GET", f"https://127.0.0.1:{port}/echo")
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


# --- StreamRelay (streaming.py): one send per upstream read, lines split anywhere ---------


class Parts(httpx.AsyncByteStream):
    def __init__(self, parts: list[bytes], fail: bool = False) -> None:
        self.parts, self.fail = parts, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        if self.fail:
            raise httpx.RemoteProtocolError("peer closed connection")


async def relay(
    parts: list[bytes], *, wants_usage: bool, fail: bool = False
) -> tuple[list[bytes], EventDraft]:
    draft = EventDraft(
        ts=0.0, started=time.perf_counter(), request_id="r", endpoint="/", ip="", user_agent=""
    )
    finished: list[EventDraft] = []
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    response = httpx.Response(200, stream=Parts(parts, fail))
    relay_ = StreamRelay(
        response, draft, finished.append, client_wants_usage=wants_usage, headers={}
    )
    await relay_({"type": "http"}, receive, send)
    assert finished == [draft]
    assert sent[0]["type"] == "http.response.start"
    return [m["body"] for m in sent[1:]], draft


SSE = (
    b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
    b": keep-alive comment\n\n"
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\r\n\r\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)
EXPECTED = (
    b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
    b": keep-alive comment\n"
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("size", [1, 7, 64, len(SSE)])
async def test_relay_sends_once_per_read_whatever_the_line_breaks(size: int) -> None:
    parts = [SSE[i : i + size] for i in range(0, len(SSE), size)]
    bodies, draft = await relay(parts, wants_usage=False)
    assert b"".join(bodies) == EXPECTED
    assert len(bodies) <= len(parts) + 1  # never more sends than reads (+ the closing one)
    assert draft.content == "Hello" and draft.finish_reason == "stop"
    assert (draft.prompt_tokens, draft.completion_tokens) == (3, 2)
    with_usage, _ = await relay(parts, wants_usage=True)
    assert b'"usage"' in b"".join(with_usage)


async def test_relay_ends_a_broken_stream_with_an_error_chunk() -> None:
    bodies, draft = await relay([SSE[:70]], wants_usage=False, fail=True)
    assert bodies[-1].startswith(b'data: {"error":')
    assert draft.status == 502 and draft.content == "Hel"


class Endless(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield b'data: {"choices":[{"index":0,"delta":{"content":"w "}}]}\n\n'
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        self.closed = True


def endless_relay(finished: list[EventDraft]) -> tuple[StreamRelay, Endless]:
    draft = EventDraft(
        ts=0.0, started=time.perf_counter(), request_id="r", endpoint="/", ip="", user_agent=""
    )
    stream = Endless()
    response = httpx.Response(200, stream=stream)
    return StreamRelay(
        response, draft, finished.append, client_wants_usage=False, headers={}
    ), stream


async def test_relay_stops_and_records_a_client_that_leaves() -> None:
    finished: list[EventDraft] = []
    relay_, stream = endless_relay(finished)
    sends = 0
    left = asyncio.Event()

    async def receive() -> Message:
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal sends
        sends += 1
        if sends == 4:
            left.set()

    await asyncio.wait_for(relay_({"type": "http"}, receive, send), 3)
    (draft,) = finished
    assert draft.client_disconnected and draft.status == 499
    assert draft.content is not None and draft.content.startswith("w w ")
    assert stream.closed


async def test_relay_lets_other_cancellations_through_and_still_records() -> None:
    finished: list[EventDraft] = []
    relay_, stream = endless_relay(finished)

    async def receive() -> Message:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    task = asyncio.create_task(relay_({"type": "http"}, receive, send))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (draft,) = finished
    assert not draft.client_disconnected and stream.closed
