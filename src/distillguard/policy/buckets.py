"""Where rate-limit buckets live: in this process (one gateway) or in Redis (replicas share
one allowance per account, so N replicas do not grant N times the limit).

One call checks every limit of a request and charges them only if all have room — atomically
in Redis (a Lua script), so two replicas cannot both spend the last unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import redis

from distillguard.policy.ratelimit import TokenBucket, bucket_for
from distillguard.store.decisions import DecisionsUnavailable

_PRUNE_EVERY = 10_000


class Limit(NamedTuple):
    table: str  # e.g. "static:requests", "throttle:tokens"
    key: str  # the account
    per_minute: float
    need: float  # what must be available now
    charge: float  # what is taken when every limit has room


class Buckets(Protocol):
    def take(self, limits: Sequence[Limit], now: float) -> tuple[float, int]:
        """(0, -1) and every limit charged; or (seconds to wait, index of the limit that
        binds) and nothing charged."""
        ...

    def adjust(self, table: str, key: str, per_minute: float, amount: float, now: float) -> None:
        """Charge more (``amount`` > 0) or refund (< 0) once the real usage is known."""
        ...


class MemoryBuckets:
    def __init__(self) -> None:
        self._tables: dict[str, dict[str, TokenBucket]] = {}
        self._calls = 0

    def _bucket(self, table: str, key: str, per_minute: float, now: float) -> TokenBucket:
        return bucket_for(self._tables.setdefault(table, {}), key, int(per_minute), now)

    def take(self, limits: Sequence[Limit], now: float) -> tuple[float, int]:
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            self._prune(now)
        buckets = [self._bucket(x.table, x.key, x.per_minute, now) for x in limits]
        waits = [b.wait_for(x.need, now) for b, x in zip(buckets, limits, strict=True)]
        if waits and max(waits) > 0:
            return max(waits), waits.index(max(waits))
        for bucket, limit in zip(buckets, limits, strict=True):
            bucket.charge(limit.charge, now)
        return 0.0, -1

    def adjust(self, table: str, key: str, per_minute: float, amount: float, now: float) -> None:
        bucket = self._tables.get(table, {}).get(key)
        if bucket is None:
            return
        if amount >= 0:
            bucket.charge(amount, now)
        else:
            bucket.refund(-amount)

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled: bounded memory over millions of accounts."""
        for table in self._tables.values():
            idle = [k for k, b in table.items() if b.wait_for(b.per_minute, now) == 0]
            for key in idle:
                del table[key]


# KEYS: one hash per limit. ARGV: now, then per limit: per_minute, need, charge.
# A bucket is {level, updated, rate}; a new or re-rated bucket starts full. Buckets expire
# after two idle minutes (full by then), so Redis holds only active accounts.
_TAKE = """
local now = tonumber(ARGV[1])
local levels = {}
local worst, worst_i = 0, -1
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 1])
  local need = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 'level', 'updated', 'rate')
  local level, updated = tonumber(state[1]), tonumber(state[2])
  if level == nil or tonumber(state[3]) ~= rate then
    level, updated = rate, now
  end
  if now > updated then
    level = math.min(rate, level + (now - updated) * rate / 60.0)
    updated = now
  end
  levels[i] = {level, updated}
  local short = math.min(need, rate) - level
  if short > 0 then
    local wait = short * 60.0 / rate
    if wait > worst then worst, worst_i = wait, i - 1 end
  end
end
if worst_i >= 0 then return {tostring(worst), worst_i} end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 1])
  local level = levels[i][1] - tonumber(ARGV[3 * i + 1])
  redis.call('HSET', key, 'level', tostring(level), 'updated', tostring(levels[i][2]),
             'rate', tostring(rate))
  redis.call('EXPIRE', key, 120 + math.ceil(60 * math.max(0, -level) / rate))
end
return {'0', -1}
"""

_ADJUST = """
local state = redis.call('HMGET', KEYS[1], 'level', 'rate')
if state[1] == false then return 0 end
local rate = tonumber(state[2])
local level = math.min(rate, tonumber(state[1]) - tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'level', tostring(level))
return 1
"""


class RedisBuckets:
    def __init__(self, url: str, prefix: str = "distillguard:", timeout_s: float = 0.5):
        self.prefix = prefix + "bucket:"
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._take = self._redis.register_script(_TAKE)
        self._adjust = self._redis.register_script(_ADJUST)

    def _key(self, table: str, key: str) -> str:
        return f"{self.prefix}{table}:{key}"

    def take(self, limits: Sequence[Limit], now: float) -> tuple[float, int]:
        if not limits:
            return 0.0, -1
        args: list[float] = [now]
        for x in limits:
            args += [x.per_minute, x.need, x.charge]
        try:
            wait, index = self._take(keys=[self._key(x.table, x.key) for x in limits], args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise DecisionsUnavailable(f"Redis is not reachable: {exc}") from exc
        return float(wait), int(index)

    def adjust(self, table: str, key: str, per_minute: float, amount: float, now: float) -> None:
        try:
            self._adjust(keys=[self._key(table, key)], args=[amount])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise DecisionsUnavailable(f"Redis is not reachable: {exc}") from exc

    def close(self) -> None:
        self._redis.close()
