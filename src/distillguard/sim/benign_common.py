"""What every human-like source shares: opaque ids, local time, and merging account streams.

Used by the benign sources and the legitimate look-alikes alike, so that a person and a company
pipeline live on the same clocks and get ids of the same opaque shape.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from distillguard.data.sharegpt import Exchange
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import DAY, HOUR, SimAccount, SimRequest, SimWindow, stable_id
from distillguard.tokens import estimate_tokens

Message = dict[str, Any]
Chat = tuple[Exchange, ...]

MAX_TURNS = 8  # turns replayed per conversation; keeps histories (and events) manageable
MAX_CHARS = 8_000  # per message, for the same reason

_HOURS = tuple(range(24))
# Relative activity (percent) per local hour: low at night, peaks in the afternoon and evening.
WEEKDAY_CURVE = (30, 16, 8, 5, 5, 8, 20, 45, 80, 100, 110, 110,
                 100, 110, 120, 120, 115, 105, 100, 110, 125, 120, 90, 55)  # fmt: skip
WEEKEND_CURVE = (45, 28, 14, 7, 5, 5, 8, 15, 35, 60, 85, 100,
                 105, 110, 110, 110, 105, 100, 100, 110, 120, 115, 95, 70)  # fmt: skip


def account_id(ctx: SimContext, spec: SourceSpec, i: int) -> str:
    """Opaque, so an id never tells which kind or label of source it came from."""
    return "acct_" + stable_id(ctx.seed, spec.name, i)


def key_id(ctx: SimContext, spec: SourceSpec, i: int, k: int) -> str:
    return "key_" + stable_id(ctx.seed, spec.name, i, "key", k)


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def model_latency(answer: str) -> float:
    """Seconds the model takes to stream ``answer``: the latency ``core.to_event`` reports."""
    return 0.4 + 0.012 * estimate_tokens(answer)


def local_midnight(window: SimWindow, tz: float, day: int) -> float:
    """UTC time of the local midnight that starts local day ``day`` (0: the window's first)."""
    first = math.floor((window.start + tz * HOUR) / DAY) * DAY - tz * HOUR
    return first + day * DAY


def local_hour(ts: float, tz: float) -> float:
    return ((ts + tz * HOUR) % DAY) / HOUR


def is_weekend(ts: float, tz: float) -> bool:
    return datetime.fromtimestamp(ts + tz * HOUR, UTC).weekday() >= 5


def local_days(window: SimWindow) -> range:
    """Local days overlapping the window in any time zone."""
    return range(-1, math.ceil(window.days) + 1)


def pick_hour(rng: random.Random, curve: Sequence[float]) -> float:
    return rng.choices(_HOURS, weights=curve)[0] + rng.random()


def worked_answer(answer: str) -> str:
    """A short worked reply ending in a reasoning task's known answer.

    reasoning-gym ships answers but no solutions; this is the shape of a model's reply, and the
    one fact in it (the answer) comes from the data.
    """
    return (
        "Let's work through it step by step.\n\n"
        "1. Write down the quantities the problem gives.\n"
        "2. Combine them in the order the question asks for.\n"
        "3. Check the result against the question.\n\n"
        f"The answer is **{answer}**."
    )


StreamFactory = Callable[[], Iterator[SimRequest]]


class MergedSource:
    """Accounts plus one lazy, time-ordered request stream per account, merged by time.

    Each call to ``requests`` rebuilds the streams from their seeds, so it yields the same
    requests every time.
    """

    def __init__(self, accounts: Sequence[SimAccount], streams: Sequence[StreamFactory]) -> None:
        self._accounts = tuple(accounts)
        self._streams = tuple(streams)

    def accounts(self) -> Sequence[SimAccount]:
        return self._accounts

    def requests(self) -> Iterator[SimRequest]:
        return heapq.merge(*(stream() for stream in self._streams), key=_ts)


def _ts(request: SimRequest) -> float:
    return request.ts
