"""What is known across all accounts: scaffolds in use, models' first appearance, volumes.

Detectors read it to put one account's behaviour in context ("this scaffold is used by 40
accounts", "this model appeared 3 hours ago"). It is updated with each event before any
detector reads it, so it, too, only ever reflects requests up to the current one. Memory is
bounded: rare segments are forgotten when the table fills (lossy counting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROMOTE_AT = 3  # uses before a segment is tracked as a possible scaffold
MAX_TRACKED_ACCOUNTS = 64
MAX_TRACKED_FILLS = 256
DAY = 86_400.0


@dataclass(slots=True)
class Scaffold:
    """A skeleton segment seen in several requests: a candidate template scaffold."""

    uses: int = 0
    first_ts: float = 0.0
    accounts: dict[str, int] = field(default_factory=dict)  # capped
    fills: set[int] = field(default_factory=set)  # distinct prompts it framed (capped)
    harvest_sum: float = 0.0

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)

    @property
    def diversity(self) -> float:
        """Distinct prompts per use: ~1 for a template filled with new data, low for a
        prompt pasted again and again (a shared assignment, a benchmark re-run)."""
        if self.uses == 0:
            return 0.0
        return len(self.fills) / min(self.uses, MAX_TRACKED_FILLS)

    @property
    def harvest_share(self) -> float:
        return self.harvest_sum / self.uses if self.uses else 0.0


class Population:
    def __init__(self, max_segments: int = 1_000_000):
        self.max_segments = max_segments
        self.segment_counts: dict[int, int] = {}
        self.scaffolds: dict[int, Scaffold] = {}
        self.model_first_seen: dict[str, float] = {}
        self.prompt_counts: dict[int, int] = {}
        self.events = 0
        self.daily_volume = _LogHistogram()
        self._payments: dict[str, set[str]] = {}

    def note_payment(self, payment: str, account_id: str) -> None:
        accounts = self._payments.setdefault(payment, set())
        if len(accounts) < MAX_TRACKED_ACCOUNTS:
            accounts.add(account_id)

    def payment_accounts(self, payment: str) -> int:
        return len(self._payments.get(payment, ()))

    def observe(
        self,
        ts: float,
        account_id: str,
        model: str,
        segments: tuple[int, ...],
        prompt_hash: int,
        harvest: float,
    ) -> None:
        self.events += 1
        if model and model not in self.model_first_seen:
            self.model_first_seen[model] = ts
        counts = self.segment_counts
        for seg in segments:
            n = counts.get(seg, 0) + 1
            counts[seg] = n
            if n >= PROMOTE_AT:
                scaffold = self.scaffolds.get(seg)
                if scaffold is None:
                    scaffold = self.scaffolds[seg] = Scaffold(first_ts=ts)
                scaffold.uses += 1
                scaffold.harvest_sum += harvest
                if len(scaffold.fills) < MAX_TRACKED_FILLS:
                    scaffold.fills.add(prompt_hash)
                acc = scaffold.accounts
                if account_id in acc:
                    acc[account_id] += 1
                elif len(acc) < MAX_TRACKED_ACCOUNTS:
                    acc[account_id] = 1
        self.prompt_counts[prompt_hash] = self.prompt_counts.get(prompt_hash, 0) + 1
        if len(counts) > self.max_segments:
            self._forget_rare()

    def _forget_rare(self) -> None:
        """Lossy counting: drop segments seen once (and prompts seen once) when full."""
        self.segment_counts = {k: v for k, v in self.segment_counts.items() if v > 1}
        self.prompt_counts = {k: v for k, v in self.prompt_counts.items() if v > 1}
        if len(self.segment_counts) > self.max_segments * 0.8:
            self.segment_counts = {k: v for k, v in self.segment_counts.items() if v >= PROMOTE_AT}

    def scaffold(self, segment: int) -> Scaffold | None:
        return self.scaffolds.get(segment)

    def model_age(self, model: str, ts: float) -> float:
        """Seconds since this model was first seen (0 for a model never seen before)."""
        first = self.model_first_seen.get(model)
        return 0.0 if first is None else ts - first

    def newest_model_release(self) -> float | None:
        """When the most recently appeared model showed up, if any appeared after the first day."""
        if len(self.model_first_seen) < 2:
            return None
        first_ever = min(self.model_first_seen.values())
        newest = max(self.model_first_seen.values())
        return newest if newest - first_ever > DAY else None

    def repeats(self, prompt_hash: int) -> int:
        return self.prompt_counts.get(prompt_hash, 0)


class _LogHistogram:
    """Accounts' requests per active day in power-of-two buckets: a cheap quantile estimate."""

    def __init__(self) -> None:
        self.buckets = [0] * 32
        self.total = 0

    def add(self, value: int) -> None:
        self.buckets[min(31, max(0, value).bit_length())] += 1
        self.total += 1

    def quantile(self, q: float) -> float:
        if self.total == 0:
            return 0.0
        target = q * self.total
        seen = 0
        for i, count in enumerate(self.buckets):
            seen += count
            if seen >= target:
                return float(2**i)
        return float(2**31)
