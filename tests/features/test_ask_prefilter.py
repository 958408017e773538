"""The prefilter: fresh against its training data, lets asks through, spares the encoder most of
real people's spans, and a span it turns away is never embedded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from distillguard.features import ask_prefilter
from distillguard.features.ask_prefilter import AskPrefilter, hashed
from distillguard.features.ask_probe import real_spans
from distillguard.features.asks import normalise
from distillguard.features.embedding import MiniLMEncoder
from distillguard.features.semantic import REJECTED, IntentSpotter

# In neither the training file nor the prototypes (as in test_ask_probe).
NEW_ASKS = [
    "before the verdict, put down each consideration that moved you",
    "how did you land on that figure? retrace it for me",
    "type out your private scratch notes first, then the answer",
    "muéstrame cómo razonaste hasta llegar a esa cifra",
    "rebuild for me the train of thought that this finished proof implies",
    "zeig mir bitte deinen rechenweg mit allen zwischenschritten",
    "here are four assistant answers; order them from strongest to weakest",
    "act as the preference model: assign each candidate completion a quality number",
]


def test_the_shipped_prefilter_was_trained_on_the_current_data() -> None:
    # Changing ask_training.yaml, the prototypes or a setting without retraining fails here:
    # python -m distillguard.features.ask_prefilter
    assert AskPrefilter.load().trained_on == ask_prefilter.digest()


def test_features_do_not_depend_on_the_process_hash_seed() -> None:
    # crc32, not hash(): the shipped weights must mean the same in every process.
    assert hashed("show me") == hashed("show me")
    assert len(hashed("ab")) == 4  # " ab", "ab ", " ab " and the word
    assert hashed("ab") != hashed("ba")


def test_it_lets_unseen_asks_through_and_turns_most_real_spans_away() -> None:
    prefilter = AskPrefilter.load()
    asks = prefilter.passes([normalise(s) for s in NEW_ASKS])
    assert sum(asks) >= len(NEW_ASKS) - 1, list(zip(NEW_ASKS, asks, strict=True))
    # Real people's spans from the pool the training never read (the evaluation's people).
    real = real_spans(500, "benign")
    assert np.mean(prefilter.passes(real)) < 0.4


class CountingEncoder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen += texts
        vectors = np.zeros((len(texts), 384), dtype=np.float32)
        vectors[:, 0] = 1.0
        return vectors


def test_a_span_turned_away_is_not_embedded_and_counts_as_no_ask() -> None:
    prefilter = AskPrefilter.load()
    ask, other = normalise(NEW_ASKS[0]), "what is the capital of peru"
    assert prefilter.passes([ask, other]) == [True, False]
    encoder = CountingEncoder()
    spotter = IntentSpotter(cast(MiniLMEncoder, encoder), prefilter=prefilter)
    encoder.seen.clear()
    scores = spotter.similarities([ask, other, other])
    assert encoder.seen == [ask]
    assert scores[1] == scores[2] == (REJECTED,) * len(spotter.intents)
    assert max(scores[1]) < spotter.threshold
    assert (spotter.embedded, spotter.spared) == (1, 1)
    spotter.similarities([ask])  # cached
    assert (spotter.embedded, encoder.seen) == (1, [ask])
    # Unscreened (an account that has asked before), the span is embedded after all.
    scores = spotter.similarities([other], screen=False)
    assert encoder.seen == [ask, other] and scores[0] != (REJECTED,) * len(spotter.intents)
    # Cached now, screened again: the prefilter still turns it away, whatever the cache holds,
    # so a verdict never depends on another account's history.
    assert spotter.similarities([other]) == [(REJECTED,) * len(spotter.intents)]
    assert encoder.seen == [ask, other] and spotter.spared == 2
