"""Release reactivity: traffic that moves to a model within 24 hours of its first appearance.

Customers adopt a new model over weeks; a harvesting operation pivots the same day to capture
it before defences adapt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import DAY, Population


@dataclass(slots=True)
class ReleaseState:
    before_release: int = 0  # requests before the newest model appeared
    window: int = 0  # requests in the 24 h after it appeared
    window_new: int = 0  # ... of which on the new model


class ReleaseDetector:
    name: ClassVar[str] = "release"
    test_min_events: ClassVar[int] = 30

    def initial(self) -> ReleaseState:
        return ReleaseState()

    def update(self, state: ReleaseState, f: RequestFeatures, pop: Population) -> None:
        release = pop.newest_model_release()
        if release is None or f.ts < release:
            state.before_release += 1
            return
        if f.ts - release <= DAY:
            state.window += 1
            if pop.model_age(f.model, f.ts) <= DAY:
                state.window_new += 1

    def value(self, state: ReleaseState, pop: Population) -> float:
        if state.window == 0 or state.before_release < 5:
            return 0.0
        return ramp(state.window_new / state.window, 0.3, 0.6) * ramp(state.window, 5, 20)

    def explain(self, state: ReleaseState, pop: Population) -> str:
        if state.window == 0 or state.before_release < 5:
            return "no pivot to a new model observed"
        share = state.window_new / state.window
        return f"{share:.0%} of {state.window} requests on a model released < 24 h earlier"
