"""When campaign accounts send: scripts around the clock, synchronised waves, or human rhythms.

Timing is one of the aggregate tells (24/7 volume, many accounts firing within the same minutes),
and the evasive archetype's disguise (local daytime sessions with human gaps), so each shape is
its own small function over a private generator.
"""

from __future__ import annotations

import math
import random
from typing import Final

from distillguard.sim.core import DAY, HOUR, MINUTE

# Relative activity per local hour for a person at a keyboard (quiet at night, lunch dip).
HUMAN_HOURS: Final = (0.15, 0.08, 0.04, 0.03, 0.03, 0.08, 0.25, 0.6, 1.0, 1.3, 1.5, 1.4,
                      1.1, 1.3, 1.45, 1.4, 1.3, 1.1, 0.9, 1.0, 1.15, 1.05, 0.7, 0.35)  # fmt: skip


def scripted(
    rng: random.Random,
    n: int,
    start: float,
    end: float,
    *,
    run_size: tuple[int, int] = (5, 25),
    gap: tuple[float, float] = (2.0, 30.0),
) -> list[float]:
    """``n`` sorted times from batch jobs: runs of back-to-back requests at any hour of day."""
    times: list[float] = []
    if end <= start:
        return times
    while len(times) < n:
        k = min(n - len(times), rng.randint(*run_size))
        mean_gap = rng.uniform(*gap)
        t = rng.uniform(start, end)
        for _ in range(k):
            if t >= end:
                break
            times.append(t)
            t += rng.expovariate(1.0 / mean_gap)
    times.sort()
    return times


def wave_starts(rng: random.Random, start: float, end: float, every_hours: float) -> list[float]:
    """The moments a coordinated network fires: roughly every ``every_hours``, day and night."""
    out: list[float] = []
    t = start + rng.uniform(0.0, every_hours * HOUR)
    while t < end:
        out.append(t)
        t += every_hours * HOUR * rng.uniform(0.8, 1.2)
    return out or [start]


def in_waves(
    rng: random.Random,
    n: int,
    waves: list[float],
    end: float,
    *,
    width_minutes: float = 12.0,
) -> list[float]:
    """``n`` times inside shared waves: one account joins a few waves, minutes after they start."""
    times: list[float] = []
    joined = rng.sample(waves, min(len(waves), max(1, math.ceil(n / rng.randint(2, 5)))))
    for i in range(n):
        t = joined[i % len(joined)] + rng.uniform(0.0, width_minutes * MINUTE)
        times.append(min(t, end - 1.0))
    times.sort()
    return times


def human(
    rng: random.Random,
    n: int,
    start: float,
    end: float,
    tz_offset: float,
    *,
    session_size: tuple[int, int] = (2, 9),
    gap_median: float = 90.0,
) -> list[tuple[float, int]]:
    """``n`` (time, session) pairs: local daytime sessions, lognormal gaps, fewer on weekends."""
    out: list[tuple[float, int]] = []
    if end <= start:
        return out
    shift = tz_offset * HOUR
    first_day = math.floor((start + shift) / DAY)
    last_day = math.floor((end + shift) / DAY)
    days = list(range(first_day, last_day + 1))
    # 1970-01-01 was a Thursday: day index 2 and 3 (mod 7) are Saturday and Sunday.
    day_weights = [0.55 if d % 7 in (2, 3) else 1.0 for d in days]
    hours = range(24)
    session = 0
    attempts = 0
    while len(out) < n and attempts < 50 * n + 100:
        attempts += 1
        day = rng.choices(days, day_weights)[0]
        hour = rng.choices(hours, HUMAN_HOURS)[0]
        t = day * DAY - shift + hour * HOUR + rng.uniform(0.0, HOUR)
        for _ in range(min(n - len(out), rng.randint(*session_size))):
            if start <= t < end:
                out.append((t, session))
            t += rng.lognormvariate(math.log(gap_median), 0.9)
        session += 1
    out.sort()
    return out
