"""Content: chain-of-thought elicitation, grading, censorship-safe rewrites, synthetic data.

Counted per account; one such request is ordinary, most of an account's traffic is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.intent import harvest_parts
from distillguard.features.request import RequestFeatures
from distillguard.population import Population

_FAMILIES = ("cot", "lang_demand", "rubric", "rewrite", "synthetic")
_LABELS = {
    "cot": "chain-of-thought elicitation",
    "lang_demand": "reasoning demanded in a given language",
    "rubric": "rubric grading (reward-model use)",
    "rewrite": "censorship-safe rewrites",
    "synthetic": "synthetic-data requests",
}


@dataclass(slots=True)
class ElicitationState:
    n: int = 0
    weighted: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_FAMILIES, 0.0))


class ElicitationDetector:
    name: ClassVar[str] = "elicitation"
    test_min_events: ClassVar[int] = 10

    def initial(self) -> ElicitationState:
        return ElicitationState()

    def update(self, state: ElicitationState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        if not f.families:
            return
        for name, value in harvest_parts(f).items():
            if name in state.weighted:
                state.weighted[name] += value

    def value(self, state: ElicitationState, pop: Population) -> float:
        if state.n == 0:
            return 0.0
        top = max(state.weighted.values())
        return ramp(top / state.n, 0.15, 0.55) * ramp(state.n, 1, 5)

    def explain(self, state: ElicitationState, pop: Population) -> str:
        if state.n == 0:
            return "no requests"
        top = max(state.weighted, key=state.weighted.__getitem__)
        share = state.weighted[top] / state.n
        return f"{_LABELS[top]} in {share:.0%} of {state.n} requests (weighted)"
