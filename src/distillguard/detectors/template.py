"""Template reuse: one scaffold framing most of an account's prompts, and the same scaffold
across accounts filled with different data each time.

Within one account, reuse alone is normal (pipelines, harnesses); across many accounts with
ever-new fills it is the signature of one operator behind many keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import Population

TOP_K = 8


def space_saving_add(top: list[list[int]], key: int, novel: bool, k: int = TOP_K) -> None:
    """Approximate top-k counting in bounded space (Metwally et al.'s Space-Saving).

    Entries ``[key, count, novel_count, error]`` in a list (not a dict) so the state stays
    plain JSON; ``novel_count`` counts uses whose whole prompt nobody had sent before, and
    ``error`` is the count an entry inherited when it took a victim's place: ``count - error``
    uses are certain. (Without it, an account whose prompts share nothing but bring more
    segments than the table holds read as one scaffold framing most of them: every newcomer
    inherits the smallest count, and the counts grow with the segments, not with reuse.)
    """
    for entry in top:
        if entry[0] == key:
            entry[1] += 1
            entry[2] += novel
            return
    if len(top) < k:
        top.append([key, 1, int(novel), 0])
        return
    victim = min(top, key=lambda e: e[1])
    victim[0], victim[3] = key, victim[1]
    victim[1], victim[2] = victim[1] + 1, int(novel)


def _add_all(top: list[list[int]], segments: tuple[int, ...], novel: bool, k: int = TOP_K) -> int:
    """``space_saving_add`` for each of ``segments`` in turn, with the same result; returns
    the index of the (first) entry with the most certain uses.

    A prompt brings ~10 segments, most of them new to a full table: finding each victim by
    a key function over the entries was most of the detector's cost; here the counts sit in
    one list that ``min`` and ``index`` scan in C.
    """
    keys = [entry[0] for entry in top]
    counts = [entry[1] for entry in top]
    fresh = int(novel)
    for seg in segments:
        if seg in keys:
            at = keys.index(seg)
            entry = top[at]
            entry[1] += 1
            entry[2] += fresh
            counts[at] = entry[1]
        elif len(top) < k:
            top.append([seg, 1, fresh, 0])
            keys.append(seg)
            counts.append(1)
        else:
            at = counts.index(min(counts))  # the first entry with the fewest uses
            victim = top[at]
            victim[0], victim[3] = seg, victim[1]
            victim[1], victim[2] = victim[1] + 1, fresh
            keys[at], counts[at] = seg, victim[1]
    certain = [entry[1] - entry[3] for entry in top]
    return certain.index(max(certain))


@dataclass(slots=True)
class TemplateState:
    n: int = 0
    top: list[list[int]] = field(default_factory=list)
    # The dominant entry, kept fresh: its segment, certain uses, and novel uses.
    best: list[int] = field(default_factory=lambda: [0, 0, 0])

    def dominant(self) -> tuple[int, int, int]:
        """The most used segment, its certain uses, and how many of those framed a new prompt."""
        seg, count, novel = self.best
        return seg, count, novel


class TemplateDetector:
    name: ClassVar[str] = "template"
    test_min_events: ClassVar[int] = 20

    def initial(self) -> TemplateState:
        return TemplateState()

    def update(self, state: TemplateState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        if f.segments:  # without segments the table, and so its best entry, stay as they are
            top = state.top
            seg, count, novel, error = top[
                _add_all(top, f.segments, pop.repeats(f.prompt_hash) <= 1)
            ]
            state.best = [seg, count - error, novel]

    def _facts(self, state: TemplateState, pop: Population) -> tuple[float, int, float]:
        seg, count, _ = state.dominant()
        scaffold = pop.scaffold(seg)
        share = min(1.0, count / state.n) if state.n else 0.0
        if scaffold is None:
            return share, 1, 0.0
        return share, scaffold.n_accounts, scaffold.diversity

    def value(self, state: TemplateState, pop: Population) -> float:
        if state.n == 0 or state.dominant()[1] < 3:
            return 0.0
        share, accounts, diversity = self._facts(state, pop)
        within = ramp(share, 0.5, 0.9) * ramp(state.n, 10, 40)
        # A scaffold shared across accounts hints at one operator, but public benchmark
        # wordings and plugin boilerplate are shared too: campaigns (linker) weigh it with
        # other evidence; alone, at account level, it stays a moderate signal.
        across = (
            ramp(accounts, 2, 10)
            * ramp(diversity, 0.3, 0.7)
            * ramp(share, 0.2, 0.5)
            * ramp(state.n, 5, 15)
        )
        return max(0.5 * within, 0.7 * across)

    def explain(self, state: TemplateState, pop: Population) -> str:
        if state.n == 0 or state.dominant()[1] < 3:
            return "no recurring scaffold"
        share, accounts, diversity = self._facts(state, pop)
        return (
            f"one scaffold frames {share:.0%} of {state.n} prompts; used by {accounts} accounts "
            f"with {diversity:.0%} distinct fills"
        )
