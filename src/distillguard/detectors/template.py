"""Template reuse: one scaffold framing most of an account's prompts, and the same scaffold
across accounts filled with different data each time.

Within one account, reuse alone is normal (pipelines, harnesses); across many accounts with
ever-new fills it is the signature of one operator behind many keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from distillguard.detectors.base import Signal, ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import Population

TOP_K = 8


def space_saving_add(top: list[list[int]], key: int, k: int = TOP_K) -> None:
    """Approximate top-k counting in bounded space (Metwally et al.'s Space-Saving).

    Pairs ``[key, count]`` in a list (not a dict) so the state stays plain JSON.
    """
    for pair in top:
        if pair[0] == key:
            pair[1] += 1
            return
    if len(top) < k:
        top.append([key, 1])
        return
    victim = min(top, key=lambda p: p[1])
    victim[0], victim[1] = key, victim[1] + 1


@dataclass(slots=True)
class TemplateState:
    n: int = 0
    top: list[list[int]] = field(default_factory=list)

    def dominant(self) -> tuple[int, int]:
        if not self.top:
            return 0, 0
        seg, count = max(self.top, key=lambda p: p[1])
        return seg, count


class TemplateDetector:
    name: ClassVar[str] = "template"
    test_min_events: ClassVar[int] = 20

    def initial(self) -> TemplateState:
        return TemplateState()

    def update(self, state: TemplateState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        for seg in f.segments:
            space_saving_add(state.top, seg)

    def signal(self, state: TemplateState, pop: Population) -> Signal:
        seg, count = state.dominant()
        if state.n == 0 or count < 3:
            return Signal(self.name, 0.0, "no recurring scaffold")
        share = min(1.0, count / state.n)
        scaffold = pop.scaffold(seg)
        accounts = scaffold.n_accounts if scaffold else 1
        diversity = scaffold.diversity if scaffold else 0.0
        within = ramp(share, 0.5, 0.9) * ramp(state.n, 10, 40)
        across = ramp(accounts, 2, 10) * ramp(diversity, 0.3, 0.7) * ramp(share, 0.2, 0.5)
        value = max(0.5 * within, across)
        return Signal(
            self.name,
            value,
            f"one scaffold frames {share:.0%} of {state.n} prompts; used by {accounts} accounts "
            f"with {diversity:.0%} distinct fills",
        )
