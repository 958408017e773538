"""Capability focus: harvesting sweeps one high-value capability with ever-new prompts.

Focus alone is normal (a coder codes); together with novelty (prompts nobody sent before, as
opposed to a benchmark re-run) it describes a coverage sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import CAPABILITIES, RequestFeatures
from distillguard.population import Population

HIGH_VALUE = ("reasoning", "coding", "agentic", "vision", "data")


@dataclass(slots=True)
class CapabilityState:
    n: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CAPABILITIES, 0))
    novel: int = 0


class CapabilityDetector:
    name: ClassVar[str] = "capability"
    test_min_events: ClassVar[int] = 40

    def initial(self) -> CapabilityState:
        return CapabilityState()

    def update(self, state: CapabilityState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        state.counts[f.capability] += 1
        if pop.repeats(f.prompt_hash) <= 1:  # the population counts this request already
            state.novel += 1

    def focus(self, state: CapabilityState) -> tuple[str, float]:
        top = max(HIGH_VALUE, key=state.counts.__getitem__)
        return top, state.counts[top] / state.n if state.n else 0.0

    def value(self, state: CapabilityState, pop: Population) -> float:
        if state.n == 0:
            return 0.0
        _, share = self.focus(state)
        novelty = state.novel / state.n
        return ramp(share, 0.6, 0.9) * ramp(novelty, 0.5, 0.9) * ramp(state.n, 10, 40)

    def explain(self, state: CapabilityState, pop: Population) -> str:
        top, share = self.focus(state)
        novelty = state.novel / max(1, state.n)
        return f"{share:.0%} {top}, {novelty:.0%} never-seen prompts over {state.n} requests"
