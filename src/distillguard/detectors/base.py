"""The one interface every detector implements.

A detector owns a small per-account state (a dataclass of plain values, so it serialises to
JSON and can live in any state store). ``update`` folds one event into it; ``signal`` reads it.
Neither may look at anything later than the event being folded in: the engine calls them in
event order, which is what makes every verdict causal.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from distillguard.features.request import RequestFeatures
from distillguard.population import Population

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    value: float  # strength of evidence in [0, 1]
    reason: str  # what a reviewer can check, with the numbers

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0 or math.isnan(self.value):
            raise ValueError(f"signal {self.name} value {self.value} outside [0, 1]")


class Detector(Protocol[S]):
    name: ClassVar[str]
    # Events a conformance test can feed it to drive it to a non-trivial signal.
    test_min_events: ClassVar[int]

    def initial(self) -> S: ...

    def update(self, state: S, f: RequestFeatures, pop: Population) -> None: ...

    def value(self, state: S, pop: Population) -> float:
        """The signal's strength alone: read after every event, so it must be cheap."""
        ...

    def explain(self, state: S, pop: Population) -> str:
        """The reason a reviewer reads, with the numbers; built only when shown."""
        ...


def signal_of(detector: Detector[S], state: S, pop: Population) -> Signal:
    return Signal(detector.name, detector.value(state, pop), detector.explain(state, pop))


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at or below ``lo``, 1 at or above ``hi``, linear between."""
    if x <= lo:
        return 0.0
    if x >= hi:
        return 1.0
    return (x - lo) / (hi - lo)


def state_to_dict(state: object) -> dict[str, Any]:
    return dataclasses.asdict(state)  # type: ignore[call-overload, no-any-return]


def state_from_dict(cls: Callable[..., S], data: dict[str, Any]) -> S:
    return cls(**data)
