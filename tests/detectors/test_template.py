from __future__ import annotations

import random

from distillguard.detectors.template import _add_all, space_saving_add


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
        assert batched[best] == max(one, key=lambda e: e[1])
