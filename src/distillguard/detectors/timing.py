"""Time: activity through the account's own night, and machine-regular gaps.

People sleep: in any 24 hours, a human account's quietest 6-hour window holds almost none of
its traffic, whatever its time zone. Scripts run through it. The time zone is never needed:
the quietest window is found on the account's own hourly histogram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import accumulate
from operator import sub
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import Population

QUIET_HOURS = 6
MIN_SPAN_S = 36 * 3600.0
MIN_REQUESTS = 40


@dataclass(slots=True)
class TimingState:
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    first_ts: float = 0.0
    last_ts: float = 0.0
    n: int = 0
    # Welford over log inter-arrival gaps (gaps under a second are clamped).
    gap_n: int = 0
    gap_mean: float = 0.0
    gap_m2: float = 0.0


def quiet_share(hours: list[int]) -> float:
    """Share of traffic in the quietest run of QUIET_HOURS consecutive hours (cyclic)."""
    total = sum(hours)
    if total == 0:
        return 0.0
    # Running sums over the day and the next day's first hours: window h is the difference
    # of two of them (read after every event of a busy account: no Python-level loop).
    sums = list(accumulate(hours + hours[: QUIET_HOURS - 1], initial=0))
    quietest: int = min(map(sub, sums[QUIET_HOURS : QUIET_HOURS + 24], sums[:24]))
    return quietest / total


class TimingDetector:
    name: ClassVar[str] = "timing"
    test_min_events: ClassVar[int] = 60

    def initial(self) -> TimingState:
        return TimingState()

    def update(self, state: TimingState, f: RequestFeatures, pop: Population) -> None:
        if state.n == 0:
            state.first_ts = f.ts
        else:
            gap = math.log(max(1.0, f.ts - state.last_ts))
            state.gap_n += 1
            delta = gap - state.gap_mean
            state.gap_mean += delta / state.gap_n
            state.gap_m2 += delta * (gap - state.gap_mean)
        state.last_ts = f.ts
        state.n += 1
        state.hours[int(f.ts // 3600) % 24] += 1

    def value(self, state: TimingState, pop: Population) -> float:
        if state.n < MIN_REQUESTS or state.last_ts - state.first_ts < MIN_SPAN_S:
            return 0.0
        sd = math.sqrt(state.gap_m2 / state.gap_n) if state.gap_n > 1 else 0.0
        regular = ramp(0.8 - sd, 0.0, 0.5)  # log-gap spread under ~0.3 is metronomic
        return max(ramp(quiet_share(state.hours), 0.06, 0.16), regular)

    def explain(self, state: TimingState, pop: Population) -> str:
        span = state.last_ts - state.first_ts
        if state.n < MIN_REQUESTS or span < MIN_SPAN_S:
            return f"{state.n} requests over {span / 3600:.1f} h: too few to judge timing"
        sd = math.sqrt(state.gap_m2 / state.gap_n) if state.gap_n > 1 else 0.0
        return (
            f"{quiet_share(state.hours):.0%} of traffic in its quietest {QUIET_HOURS} h "
            f"(humans ~2%); log-gap spread {sd:.2f}"
        )
