"""A small async load generator for the benchmarks: closed and open loop, per-request samples.

Two clients send the same bytes. ``RawClient`` writes each request in one ``write`` on a
kept-alive asyncio connection and parses the answer with httptools (the C parser uvicorn uses,
installed with ``uvicorn[standard]``); it costs the load generator little CPU, which matters
when it shares two cores with the servers it measures. ``HttpxClient`` is
``httpx.AsyncClient`` with a pool of the same size, for comparison: it is the client the gateway
itself uses upstream. Both record the time of the first body byte as well as of the last.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools
import httpx

__all__ = [
    "HttpxClient",
    "Job",
    "RawClient",
    "Sample",
    "Sender",
    "Summary",
    "closed_loop",
    "open_loop",
    "percentiles",
    "summarize",
]

_DONE = b"data: [DONE]"
_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Job:
    """One request to send: which target, which interleaving block, what body."""

    target: str
    block: int
    body: bytes
    stream: bool


@dataclass(frozen=True, slots=True)
class Sample:
    """What one request did. ``status`` 0 means a transport error (see ``error``)."""

    target: str
    block: int
    stream: bool
    sent: float  # perf_counter() when the request was handed to the client
    done: float  # perf_counter() after the last body byte
    ttfb: float | None  # seconds to the first body byte
    status: int
    error: str | None
    lag: float  # open loop: how late the send was against its schedule (0 in closed loop)

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    errors: int
    rps: float
    p50: float
    p90: float
    p99: float
    ttfb_p50: float
    ttfb_p99: float
    max_lag: float
    p99_lag: float


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    """p50, p90 and p99 with linear interpolation (numpy's default method)."""
    if not values:
        return (float("nan"),) * 3
    if len(values) == 1:
        return (values[0],) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[89], cuts[98]


def summarize(samples: Sequence[Sample]) -> Summary:
    """Latency over successful requests; throughput as requests over the time their blocks ran.

    A block runs from its first send to its last completion; blocks of one target never overlap
    in a closed loop and overlap only by their tails in an open loop.
    """
    spans: dict[int, tuple[float, float]] = {}
    for s in samples:
        start, end = spans.get(s.block, (s.sent, s.done))
        spans[s.block] = (min(start, s.sent), max(end, s.done))
    busy = sum(end - start for start, end in spans.values())
    good = [s for s in samples if s.ok]
    p50, p90, p99 = percentiles([s.latency for s in good])
    t50, _, t99 = percentiles([s.ttfb for s in good if s.ttfb is not None])
    lags = [s.lag for s in samples]
    _, _, lag99 = percentiles(lags)
    return Summary(
        n=len(samples),
        errors=len(samples) - len(good),
        rps=len(samples) / busy if busy > 0 else float("nan"),
        p50=p50,
        p90=p90,
        p99=p99,
        ttfb_p50=t50,
        ttfb_p99=t99,
        max_lag=max(lags, default=0.0),
        p99_lag=lag99,
    )


class Sender(Protocol):
    async def send(self, job: Job, *, lag: float = 0.0) -> Sample: ...

    async def aclose(self) -> None: ...


# --- httptools client ------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[None] | None = None
        self._first: float | None = None
        self._tail = b""
        self._keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish(exc or ConnectionResetError("connection closed by the server"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        if self._first is None:
            self._first = time.perf_counter()
        self._tail = (self._tail + body)[-64:]

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        done = self._done
        if done is not None and not done.done():
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

    async def request(self, raw: bytes) -> tuple[int, float | None, bytes]:
        """Status, perf_counter() of the first body byte, and the last bytes of the body."""
        assert self.transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._first, self._tail = None, b""
        self.transport.write(raw)
        await asyncio.wait_for(self._done, _TIMEOUT_S)
        if not self._keep_alive:
            self.closed = True
            self.transport.close()
        return self._parser.get_status_code(), self._first, self._tail


class RawClient:
    """Prebuilt request bytes over a pool of kept-alive connections per target."""

    def __init__(
        self, urls: Mapping[str, str], *, pool_size: int, headers: Mapping[str, str]
    ) -> None:
        self._targets: dict[str, tuple[str, int, bytes]] = {}
        for name, url in urls.items():
            parts = urlsplit(url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            head = f"POST {parts.path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
            head += "".join(f"{key}: {value}\r\n" for key, value in headers.items())
            self._targets[name] = (host, port, head.encode("latin-1"))
        self._idle: dict[str, list[_Connection]] = {name: [] for name in urls}
        self._slots = {name: asyncio.Semaphore(pool_size) for name in urls}
        self._all: list[_Connection] = []

    async def _connection(self, target: str) -> _Connection:
        idle = self._idle[target]
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        host, port, _ = self._targets[target]
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, host, port)
        self._all.append(conn)
        return conn

    async def send(self, job: Job, *, lag: float = 0.0) -> Sample:
        _, _, head = self._targets[job.target]
        accept = b"accept: text/event-stream\r\n" if job.stream else b""
        raw = b"%scontent-type: application/json\r\n%scontent-length: %d\r\n\r\n%s" % (
            head,
            accept,
            len(job.body),
            job.body,
        )
        status, first, tail, error = 0, None, b"", None
        async with self._slots[job.target]:
            sent = time.perf_counter()
            conn: _Connection | None = None
            try:
                conn = await self._connection(job.target)
                status, first, tail = await conn.request(raw)
                if not conn.closed:
                    self._idle[job.target].append(conn)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                error = type(exc).__name__
                if conn is not None and conn.transport is not None:
                    conn.closed = True  # in an unknown state: never reuse it
                    conn.transport.close()
            done = time.perf_counter()
        if job.stream and status == 200 and error is None and _DONE not in tail:
            error = "stream ended without [DONE]"
        ttfb = None if first is None else first - sent
        return Sample(job.target, job.block, job.stream, sent, done, ttfb, status, error, lag)

    async def aclose(self) -> None:
        for conn in self._all:
            if conn.transport is not None and not conn.closed:
                conn.transport.close()


# --- httpx client ----------------------------------------------------------------------------


class HttpxClient:
    """One pooled ``httpx.AsyncClient`` per target; the streaming API for every request."""

    def __init__(
        self, urls: Mapping[str, str], *, pool_size: int, headers: Mapping[str, str]
    ) -> None:
        self._urls = dict(urls)
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._clients = {
            name: httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(_TIMEOUT_S), headers=dict(headers)
            )
            for name in urls
        }

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def send(self, job: Job, *, lag: float = 0.0) -> Sample:
        client = self._clients[job.target]
        headers = {"content-type": "application/json"}
        if job.stream:
            headers["accept"] = "text/event-stream"
        ttfb: float | None = None
        status = 0
        error: str | None = None
        sent = time.perf_counter()
        try:
            async with client.stream(
                "POST", self._urls[job.target], content=job.body, headers=headers
            ) as response:
                status = response.status_code
                tail = b""
                async for chunk in response.aiter_raw():
                    if ttfb is None:
                        ttfb = time.perf_counter() - sent
                    tail = (tail + chunk)[-64:]
            if job.stream and status == 200 and _DONE not in tail:
                error = "stream ended without [DONE]"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        done = time.perf_counter()
        return Sample(job.target, job.block, job.stream, sent, done, ttfb, status, error, lag)


# --- load shapes -----------------------------------------------------------------------------


async def closed_loop(sender: Sender, jobs: Sequence[Job], concurrency: int) -> list[Sample]:
    """Each block in turn, ``concurrency`` requests always in flight until it is drained."""
    samples: list[Sample] = []

    async def drain(pending: Iterator[Job]) -> None:
        for job in pending:
            samples.append(await sender.send(job))

    for block in _blocks(jobs):
        pending = iter(block)  # shared by the workers: each takes the next job
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(block))):
                group.create_task(drain(pending))
    return samples


async def open_loop(
    sender: Sender, jobs: Sequence[Job], rate: float, max_in_flight: int
) -> list[Sample]:
    """Arrivals at a constant ``rate``; a send waits only when ``max_in_flight`` are out.

    Blocks follow each other without a pause, so the arrival process is one steady stream and
    only the target changes at block boundaries; a backlog left by a target that could not keep
    up is dropped at its block's end rather than sent as a burst to the next target. ``lag``
    records how late each send was against the schedule (> 0 when all slots were busy).
    """
    samples: list[Sample] = []
    slots = asyncio.Semaphore(max_in_flight)
    interval = 1.0 / rate

    async def run(job: Job, lag: float) -> None:
        try:
            samples.append(await sender.send(job, lag=lag))
        finally:
            slots.release()

    start = time.perf_counter() + 0.01
    block = jobs[0].block if jobs else 0
    async with asyncio.TaskGroup() as group:
        for index, job in enumerate(jobs):
            due = start + index * interval
            if job.block != block:
                block = job.block
                now = time.perf_counter()
                if due < now:  # a saturated target's backlog must not burst into the next block
                    start += now - due
                    due = now
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            group.create_task(run(job, max(0.0, time.perf_counter() - due)))
    return samples


def _blocks(jobs: Sequence[Job]) -> list[list[Job]]:
    blocks: list[list[Job]] = []
    for job in jobs:
        if not blocks or blocks[-1][0].block != job.block:
            blocks.append([])
        blocks[-1].append(job)
    return blocks
