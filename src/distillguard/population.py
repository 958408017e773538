"""What is known across all accounts: scaffolds in use, models' first appearance, volumes.

Detectors read it to put one account's behaviour in context ("this scaffold is used by 40
accounts", "this model appeared 3 hours ago"). It is updated with each event before any
detector reads it, so it, too, only ever reflects requests up to the current one. Memory is
bounded: rare segments are forgotten when the table fills (lossy counting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROMOTE_AT = 3  # uses before a segment is tracked as a possible scaffold
MODEL_MIN_ACCOUNTS = 3  # a model counts as released once this many accounts have used it
MAX_MODELS = 256
MAX_MODEL_CANDIDATES = 1024  # names clients sent that are not (yet) confirmed models
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
        self.max_scaffolds = max(1000, max_segments // 4)
        self.model_first_seen: dict[str, float] = {}
        self._model_candidates: dict[str, tuple[float, set[str]]] = {}
        self._first_model_ts: float | None = None
        self._newest_model_ts: float | None = None
        self.prompt_counts: dict[int, int] = {}
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
        if model and model not in self.model_first_seen:
            self._note_model(model, account_id, ts)
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
            self.segment_counts = _shrink(counts, self.max_segments)
        if len(self.prompt_counts) > self.max_segments:
            self.prompt_counts = _shrink(self.prompt_counts, self.max_segments)
        if len(self.scaffolds) > self.max_scaffolds:
            keep = sorted(self.scaffolds.items(), key=lambda kv: kv[1].uses, reverse=True)
            self.scaffolds = dict(keep[: self.max_scaffolds // 2])

    def _note_model(self, model: str, account_id: str, ts: float) -> None:
        """A model name counts once several accounts used it: any client can send any
        string as ``model``, and one typo must not look like a release."""
        candidate = self._model_candidates.get(model)
        if candidate is None:
            if len(self._model_candidates) >= MAX_MODEL_CANDIDATES:
                # A flood of made-up names: forget the ones only one account ever sent.
                self._model_candidates = {
                    m: c for m, c in self._model_candidates.items() if len(c[1]) > 1
                }
                if len(self._model_candidates) >= MAX_MODEL_CANDIDATES:
                    return
            candidate = self._model_candidates[model] = (ts, set())
        candidate[1].add(account_id)
        if len(candidate[1]) < MODEL_MIN_ACCOUNTS or len(self.model_first_seen) >= MAX_MODELS:
            return
        first = candidate[0]
        del self._model_candidates[model]
        self.model_first_seen[model] = first
        if self._first_model_ts is None or first < self._first_model_ts:
            self._first_model_ts = first
        if self._newest_model_ts is None or first > self._newest_model_ts:
            self._newest_model_ts = first

    def scaffold(self, segment: int) -> Scaffold | None:
        return self.scaffolds.get(segment)

    def model_age(self, model: str, ts: float) -> float:
        """Seconds since this model was first seen (0 for a model never seen before)."""
        first = self.model_first_seen.get(model)
        return 0.0 if first is None else ts - first

    def newest_model_release(self) -> float | None:
        """When the most recently appeared model showed up, if any appeared after the first day."""
        first, newest = self._first_model_ts, self._newest_model_ts
        if first is None or newest is None:
            return None
        return newest if newest - first > DAY else None

    def repeats(self, prompt_hash: int) -> int:
        return self.prompt_counts.get(prompt_hash, 0)


def _shrink(counts: dict[int, int], cap: int) -> dict[int, int]:
    """Lossy counting for a full table: drop what was seen once; if recurring entries alone
    still fill it, halve every count (old evidence fades) until there is room again."""
    kept = {k: v for k, v in counts.items() if v > 1}
    while len(kept) > cap * 0.8:
        kept = {k: v // 2 for k, v in kept.items() if v >= 2 * 2}
    return kept


class _LogHistogram:
    """Accounts' requests per active day in power-of-two buckets: a cheap quantile estimate."""

    def __init__(self) -> None:
        self.buckets = [0] * 32
        self.total = 0
        # Read after every event, changed only when an account's day ends: remembered.
        self._quantiles: dict[float, float] = {}

    def add(self, value: int) -> None:
        self.buckets[min(31, max(0, value).bit_length())] += 1
        self.total += 1
        self._quantiles.clear()

    def quantile(self, q: float) -> float:
        found = self._quantiles.get(q)
        if found is None:
            found = self._quantiles[q] = self._quantile(q)
        return found

    def _quantile(self, q: float) -> float:
        if self.total == 0:
            return 0.0
        target = q * self.total
        seen = 0
        for i, count in enumerate(self.buckets):
            seen += count
            if seen >= target:
                return float(2**i)
        return float(2**31)
