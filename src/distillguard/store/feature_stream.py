"""The detection engine's state shared by gateway replicas: one Redis stream of requests.

Each replica extracts a request's features (the costly part, done once, where the request
arrived) and appends them to one Redis stream; every replica folds that stream, in the
stream's order, into its own engine. So the per-account detector state, the population
statistics and the cross-account links are the same on every replica: each has seen every
replica's requests in one total order, and reaches the verdicts one gateway would reach on that
sequence. A campaign whose accounts are spread over replicas by the load balancer is linked as
if one gateway saw it all, and a verdict at request k still uses only requests up to k (the
stream order is the time order).

A request's own verdict is read after folding everything up to its own entry. Between
requests, ``tail_forever`` keeps an idle replica caught up, so its views (dashboard, metrics)
show the whole fleet's traffic.

Redis down: the replica folds the request alone (its state keeps every request it served),
keeps it in a backlog, and publishes the backlog when Redis is back, so the other replicas
learn of it then and nothing is lost; it skips those entries when they come back to it.
Whether the request is served meanwhile is the gateway's fail mode: ``closed`` refuses (503),
``open`` serves on the replica's own verdict.

Entries are JSON (never pickle: whoever can write to Redis must not be able to run code in a
gateway). The stream is trimmed to about ``max_len`` entries; a replica that starts later
folds what the stream still holds, so its state covers that window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson
import redis

from distillguard.features.request import RequestFeatures

if TYPE_CHECKING:
    from distillguard.engine import Engine, Verdict

log = logging.getLogger(__name__)

FORMAT = 2  # 2: RequestFeatures gained thread_hash (1 is still read, see decode)
_FIELDS = tuple(f.name for f in dataclasses.fields(RequestFeatures))
_FORMAT_1 = tuple(n for n in _FIELDS if n != "thread_hash")
_TUPLES = frozenset({"segments", "ask_spans"})


class StateUnavailable(RuntimeError):
    """The shared stream could not be reached; the request was folded on this replica alone."""


def encode(f: RequestFeatures) -> bytes:
    values: list[Any] = [FORMAT]
    for name in _FIELDS:
        value = getattr(f, name)
        values.append(sorted(value) if isinstance(value, frozenset) else value)
    return orjson.dumps(values)


def decode(data: bytes) -> RequestFeatures:
    """An entry of this format, or of format 1 (written by a replica not yet upgraded, during a
    rolling upgrade): it had no thread, and its request is taken for a conversation's first,
    so that the replicas' states do not drift apart while both versions run."""
    values = orjson.loads(data)
    version = values[0] if isinstance(values, list) and values else None
    names = _FIELDS if version == FORMAT else _FORMAT_1 if version == 1 else ()
    if not names or len(values) != len(names) + 1:
        raise ValueError("not a feature entry of this version")
    kwargs: dict[str, Any] = dict(zip(names, values[1:], strict=True))
    if version == 1:
        kwargs["thread_hash"] = kwargs["prompt_hash"]
    for name in _TUPLES:
        kwargs[name] = tuple(kwargs[name])
    kwargs["families"] = frozenset(kwargs["families"])
    return RequestFeatures(**kwargs)


def _after(entry_id: str) -> str:
    return "(" + entry_id  # XRANGE's exclusive start


class SharedFold:
    """The engine's ``judge``, when replicas share state (``detection.state_backend: redis``)."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        *,
        prefix: str = "distillguard:",
        replica: str,
        timeout_s: float = 0.5,
        max_len: int = 200_000,
        batch: int = 500,
        fail_mode: str = "closed",
    ):
        self.engine = engine
        self.replica = replica
        self.key = f"{prefix}engine:features"
        self.max_len = max_len
        self.batch = batch
        self.fail_mode = fail_mode
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._last = "0-0"  # the newest entry folded here
        self._seq = 0  # this replica's own requests, for telling its entries apart
        self._backlog: deque[tuple[int, bytes]] = deque()  # folded alone, not yet published
        self._alone: set[int] = set()  # own entries already folded; skip them in the stream
        self.folded = 0  # entries folded from the stream (own and others')
        self.lag_entries_lost = 0  # entries trimmed before this replica folded them

    def close(self) -> None:
        self._redis.close()

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    # the hot path ------------------------------------------------------------------------
    def judge(self, f: RequestFeatures) -> Verdict:
        self._seq += 1
        seq, data = self._seq, encode(f)
        try:
            self._publish_backlog()
            verdict = self._add(seq, data)
        except redis.RedisError as exc:
            # Fold it here (nothing this replica served is lost) and tell the others later.
            self._backlog.append((seq, data))
            self._alone.add(seq)
            verdict = self.engine.process_features(f)
            if self.fail_mode == "closed":
                raise StateUnavailable(f"shared engine state unreachable: {exc}") from exc
            log.warning("shared engine state unreachable (%s); judging alone (fail-open)", exc)
            return verdict
        if verdict is None:  # our entry was trimmed before we read it back: fold it alone
            verdict = self.engine.process_features(f)
        return verdict

    def _fields(self, seq: int, data: bytes) -> dict[Any, Any]:
        return {b"f": data, b"r": self.replica.encode(), b"s": str(seq).encode()}

    def _add(self, seq: int, data: bytes) -> Verdict | None:
        """Append one entry and fold up to it, in one round trip when the replica keeps up;
        its verdict (None only if the stream was trimmed past it first)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(self.key, self._fields(seq, data), maxlen=self.max_len, approximate=True)
        pipe.xrange(self.key, _after(self._last), "+", count=self.batch)
        raw_id, first = pipe.execute()
        entry = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        mine = self._fold_entries(_entries(first), entry)
        if mine is None and _id(self._last) < _id(entry):
            mine = self._fold_until(entry)
        return mine

    def _publish_backlog(self) -> None:
        while self._backlog:
            seq, data = self._backlog[0]
            self._redis.xadd(
                self.key, self._fields(seq, data), maxlen=self.max_len, approximate=True
            )
            self._backlog.popleft()

    def _fold_until(self, until: str) -> Verdict | None:
        """Fold every entry after the last one folded, up to ``until``; ``until``'s verdict."""
        mine: Verdict | None = None
        while _id(self._last) < _id(until):
            entries = _entries(
                self._redis.xrange(self.key, _after(self._last), until, count=self.batch)
            )
            if not entries:
                return mine
            mine = self._fold_entries(entries, until) or mine
        return mine

    def _fold_entries(
        self, entries: list[tuple[str, dict[bytes, bytes]]], mark: str
    ) -> Verdict | None:
        mine: Verdict | None = None
        for entry_id, fields in entries:
            verdict = self._fold(fields)
            self._last = entry_id
            if entry_id == mark:
                mine = verdict
        return mine

    def _fold(self, fields: dict[bytes, bytes]) -> Verdict | None:
        if fields.get(b"r") == self.replica.encode():
            seq = int(fields.get(b"s", b"0"))
            if seq in self._alone:
                self._alone.discard(seq)
                return None
        try:
            f = decode(fields[b"f"])
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("skipping an unreadable entry in %s: %s", self.key, exc)
            return None
        self.folded += 1
        return self.engine.process_features(f)

    # between requests --------------------------------------------------------------------
    def catch_up(self) -> int:
        """Fold what other replicas added since; the number of entries read."""
        self._publish_backlog()
        newest = _entries(self._redis.xrevrange(self.key, "+", "-", count=1))
        if not newest:
            return 0
        oldest = _entries(self._redis.xrange(self.key, "-", "+", count=1))
        if self._last != "0-0" and oldest and _id(oldest[0][0]) > _id(self._last):
            self.lag_entries_lost += 1
            log.warning("replica %s fell behind the stream's retention", self.replica)
        before = self.folded
        self._fold_until(newest[0][0])
        return self.folded - before

    async def tail_forever(self, interval_s: float) -> None:
        """Keep an idle replica caught up; runs on the event loop, like every other fold."""
        while True:
            try:
                self.catch_up()
            except redis.RedisError as exc:
                log.warning("shared engine state unreachable (%s); retrying", exc)
            await asyncio.sleep(interval_s)


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _entries(raw: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """XRANGE's reply as (id, fields); redis-py's stubs leave it untyped."""
    return [(entry_id.decode(), fields) for entry_id, fields in raw or ()]
