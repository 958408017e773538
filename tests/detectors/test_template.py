from __future__ import annotations

import dataclasses
import random

from distillguard.detectors.template import (
    TemplateDetector,
    TemplateState,
    _add_all,
    space_saving_add,
)
from distillguard.features.matcher import build_matcher
from distillguard.features.request import extract
from distillguard.population import Population


def test_batched_space_saving_equals_one_segment_at_a_time() -> None:
    rng = random.Random(7)
    one: list[list[int]] = []
    batched: list[list[int]] = []
    for _ in range(2000):
        segments = tuple(dict.fromkeys(rng.randrange(30) for _ in range(rng.randrange(1, 12))))
        novel = rng.random() < 0.5
        for seg in segments:
            space_saving_add(one, seg, novel)
        best = _add_all(batched, segments, novel)
        assert batched == one
        assert batched[best] == max(one, key=lambda e: e[1] - e[3])  # most certain uses


def _fold(prompts: list[tuple[int, ...]]) -> tuple[TemplateState, TemplateDetector]:
    detector, state, pop = TemplateDetector(), TemplateDetector().initial(), Population()
    event = {"ts": 0.0, "account_id": "a", "request": {"messages": [{"role": "user"}]}}
    base = extract(event, build_matcher())
    for i, segments in enumerate(prompts):
        detector.update(state, dataclasses.replace(base, segments=segments, prompt_hash=i), pop)
    return state, detector


def test_prompts_that_share_nothing_are_not_one_scaffold_however_many_segments() -> None:
    # Twelve fresh segments a prompt, more than the table holds: every newcomer inherits the
    # smallest count, so raw counts grow with the segments; the certain uses do not.
    rng = random.Random(3)
    prompts = [tuple(rng.getrandbits(60) for _ in range(12)) for _ in range(60)]
    state, detector = _fold(prompts)
    assert max(entry[1] for entry in state.top) > len(prompts)  # the raw, inflated counts
    assert state.dominant()[1] <= 2
    assert detector.value(state, Population()) == 0.0
    assert "no recurring scaffold" in detector.explain(state, Population())


def test_a_real_scaffold_among_fresh_segments_keeps_its_count() -> None:
    rng = random.Random(4)
    scaffold = 12345
    prompts = [(scaffold, *(rng.getrandbits(60) for _ in range(5))) for _ in range(60)]
    state, detector = _fold(prompts)
    seg, count, novel = state.dominant()
    assert seg == scaffold
    assert count >= 58 and novel == count
    assert detector.value(state, Population()) > 0.4
