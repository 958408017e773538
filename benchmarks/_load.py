"""A small async load generator for the benchmarks: closed and open loop, per-request samples.

Every request goes through ``httpx.AsyncClient.stream`` (streaming or not) so both targets cost
the client the same code path, and the time of the first body chunk is known for every request.
Each target has its own connection pool, sized to the concurrency, warmed before measuring.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import httpx

__all__ = ["Job", "LoadClient", "Sample", "Summary", "percentiles", "summarize"]

_DONE = b"data: [DONE]"


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


class LoadClient:
    """One pooled ``httpx.AsyncClient`` per target URL."""

    def __init__(
        self, urls: Mapping[str, str], *, pool_size: int, headers: Mapping[str, str]
    ) -> None:
        self._urls = dict(urls)
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._clients = {
            name: httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(60.0), headers=dict(headers)
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

    async def closed_loop(self, jobs: Sequence[Job], concurrency: int) -> list[Sample]:
        """Each block in turn, ``concurrency`` requests always in flight until it is drained."""
        samples: list[Sample] = []
        for block in _blocks(jobs):
            pending = iter(block)  # shared by the workers: each takes the next job

            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(block))):
                    group.create_task(self._drain(pending, samples))
        return samples

    async def _drain(self, pending: Iterator[Job], samples: list[Sample]) -> None:
        for job in pending:
            samples.append(await self.send(job))

    async def open_loop(self, jobs: Sequence[Job], rate: float, max_in_flight: int) -> list[Sample]:
        """Arrivals at a constant ``rate``; a send waits only when ``max_in_flight`` are out.

        Blocks follow each other without a pause, so the arrival process is one steady stream
        and only the target changes at block boundaries.
        """
        samples: list[Sample] = []
        slots = asyncio.Semaphore(max_in_flight)
        interval = 1.0 / rate

        async def run(job: Job, lag: float) -> None:
            try:
                samples.append(await self.send(job, lag=lag))
            finally:
                slots.release()

        start = time.perf_counter() + 0.01
        async with asyncio.TaskGroup() as group:
            for index, job in enumerate(jobs):
                due = start + index * interval
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
