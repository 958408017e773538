"""Per-account token buckets for requests/minute and tokens/minute.

A bucket holds at most one minute's allowance and refills continuously. Requests are charged
one unit up front; tokens are charged by the estimate up front and corrected with the real
usage once the response is known, so a bucket may go negative and the account then waits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distillguard.gateway.decision import Decision


@dataclass(slots=True)
class TokenBucket:
    per_minute: float
    level: float
    updated: float

    @classmethod
    def full(cls, per_minute: float, now: float) -> TokenBucket:
        return cls(per_minute=per_minute, level=per_minute, updated=now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(
                self.per_minute, self.level + (now - self.updated) * self.per_minute / 60.0
            )
            self.updated = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (0 when it is now); charges nothing."""
        self._refill(now)
        need = min(amount, self.per_minute) - self.level
        return 0.0 if need <= 0 else need * 60.0 / self.per_minute

    def charge(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= amount

    def refund(self, amount: float) -> None:
        self.level = min(self.per_minute, self.level + amount)


def bucket_for(
    table: dict[str, TokenBucket], account: str, per_minute: int, now: float
) -> TokenBucket:
    """The account's bucket in ``table``, new (full) when absent or when its rate changed."""
    bucket = table.get(account)
    if bucket is None or bucket.per_minute != per_minute:
        bucket = table[account] = TokenBucket.full(per_minute, now)
    return bucket


def rate_limited(
    what: str,
    wait: float,
    reasons: tuple[str, ...],
    score: float = 0.0,
    campaign_id: str | None = None,
) -> Decision:
    """The 429 for a limit of ``what`` (e.g. "10 requests/minute") that frees in ``wait`` s."""
    retry = max(1, math.ceil(wait))
    return Decision(
        "throttle",
        score,
        reasons,
        campaign_id,
        retry_after_s=retry,
        message=f"Rate limit reached for {what}. Try again in {retry}s.",
    )
