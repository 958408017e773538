"""Volume relative to the population: requests and output tokens per active day."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import DAY, Population

# Until the population has shown its own p99, assume this many requests/day is already heavy.
FLOOR_P99 = 150.0


@dataclass(slots=True)
class VolumeState:
    day: int = -1
    day_requests: int = 0
    day_tokens: int = 0
    peak_requests: int = 0
    peak_tokens: int = 0
    requests: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0


class VolumeDetector:
    name: ClassVar[str] = "volume"
    test_min_events: ClassVar[int] = 5

    def initial(self) -> VolumeState:
        return VolumeState()

    def update(self, state: VolumeState, f: RequestFeatures, pop: Population) -> None:
        day = int(f.ts // DAY)
        if day != state.day:
            if state.day >= 0:
                pop.daily_volume.add(state.day_requests)
            state.day, state.day_requests, state.day_tokens = day, 0, 0
        tokens = f.completion_tokens + f.reasoning_tokens
        state.day_requests += 1
        state.day_tokens += tokens
        state.requests += 1
        state.completion_tokens += f.completion_tokens
        state.reasoning_tokens += f.reasoning_tokens
        state.peak_requests = max(state.peak_requests, state.day_requests)
        state.peak_tokens = max(state.peak_tokens, state.day_tokens)

    def value(self, state: VolumeState, pop: Population) -> float:
        ratio = state.peak_requests / max(FLOOR_P99, pop.daily_volume.quantile(0.99))
        return ramp(math.log2(ratio) if ratio > 0 else -10.0, -1.0, 1.0)

    def explain(self, state: VolumeState, pop: Population) -> str:
        p99 = max(FLOOR_P99, pop.daily_volume.quantile(0.99))
        return (
            f"peak {state.peak_requests} requests/day vs population p99 {p99:.0f}; "
            f"{state.completion_tokens} output tokens received"
        )
