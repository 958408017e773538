"""What every human-like source shares: opaque ids, local time, and merging account streams.

Used by the benign sources and the legitimate look-alikes alike, so that a person and a company
pipeline live on the same clocks and get ids of the same opaque shape.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from distillguard.data.sharegpt import Conversation, Exchange
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


# Disjoint shares (percent) of the benign pool, so a person, a power user, a student and a
# company never replay the same recorded conversation: a conversation found in two unrelated
# accounts would link them. Sized roughly to what each kind consumes in a typical scenario.
POOL_SHARES: Final = MappingProxyType(
    {"human": (0, 72), "heavy-human": (72, 84), "campus": (84, 94), "business": (94, 100)}
)


def pool_share(ctx: SimContext, share: str) -> list[Conversation]:
    """This kind's share of the benign pool, by a stable hash of the conversation id."""
    lo, hi = POOL_SHARES[share]
    return [c for c in ctx.bank.sharegpt("benign") if lo <= _share_bucket(c.id) < hi]


def _share_bucket(conversation_id: str) -> int:
    digest = hashlib.blake2b(b"benign-share|" + conversation_id.encode(), digest_size=4)
    return int.from_bytes(digest.digest()) % 100


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
