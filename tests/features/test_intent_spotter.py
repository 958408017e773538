"""The intent spotter: its shortcuts (the probe's probability view alone, the quick int8
encoder) change no verdict. Runs the real all-MiniLM-L6-v2 encoder on ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.features import embedding_onnx
from distillguard.features.ask_probe import MIN_PROBABILITY, AskProbe, real_spans
from distillguard.features.asks import normalise
from distillguard.features.embedding import MiniLMEncoder, available
from distillguard.features.semantic import QUICK_MARGIN, IntentSpotter

pytestmark = pytest.mark.skipif(
    not (available() and embedding_onnx.available()), reason="model or onnxruntime absent"
)

ASKS = [
    "before the verdict, put down each consideration that moved you",
    "how did you land on that figure? retrace it for me",
    "show me every step of your working, not just the result",
    "act as the preference model: assign each candidate completion a quality number",
    "explain your reasoning step by step",
    "grade this answer from 1 to 10",
]


@pytest.fixture(scope="module")
def spans() -> list[str]:
    return [normalise(s) for s in ASKS] + real_spans(300, "benign")


@pytest.fixture(scope="module")
def exact() -> MiniLMEncoder:
    return MiniLMEncoder.load(backend="onnx")


@pytest.fixture(scope="module")
def quick() -> MiniLMEncoder:
    return MiniLMEncoder.load(backend="onnx-int8")


def test_skipping_the_neighbour_view_changes_no_verdict(
    exact: MiniLMEncoder, spans: list[str]
) -> None:
    probe = AskProbe.load()
    spotter = IntentSpotter(exact, probe)
    vectors = exact.encode(spans)
    columns = [probe.classes.index(i) for i in spotter.intents]
    full = probe.scores(vectors)[:, columns]
    fast = np.asarray(spotter.score(vectors))
    full_says, fast_says = full >= spotter.threshold, fast >= spotter.threshold
    assert (full_says == fast_says).all()
    assert full_says[: len(ASKS)].any(axis=1).all()  # the asks are read as asks
    assert not full_says[len(ASKS) :].any(axis=1).all()  # (and not everything is)
    # Read as an ask: the probe's own score; not: at least the probe's score.
    assert np.allclose(fast[fast_says], full[fast_says])
    assert (fast >= full - 1e-6).all()
    excess = probe.probabilities(vectors)[:, columns] - MIN_PROBABILITY
    skipped = np.all(excess < spotter.threshold, axis=1)
    assert skipped[len(ASKS) :].mean() > 0.5  # most real spans never reach the bank look-up


def test_the_neighbour_view_runs_down_to_exact_from(exact: MiniLMEncoder, spans: list[str]) -> None:
    # The quick look settles a span by its exact score down to threshold - QUICK_MARGIN.
    probe = AskProbe.load()
    spotter = IntentSpotter(exact, probe)
    vectors = exact.encode(spans)
    columns = [probe.classes.index(i) for i in spotter.intents]
    full = probe.scores(vectors)[:, columns]
    floor = spotter.threshold - QUICK_MARGIN
    scores = np.asarray(spotter.score(vectors, exact_from=floor))
    excess = probe.probabilities(vectors)[:, columns] - MIN_PROBABILITY
    looked = np.any(excess >= floor, axis=1)
    assert np.allclose(scores[looked], full[looked])
    assert (scores[~looked] >= full[~looked] - 1e-6).all() and (scores[~looked] < floor).all()
    # More spans get their exact score than at the threshold, and fewer stay above the floor.
    assert looked.sum() > np.any(excess >= spotter.threshold, axis=1).sum()
    upper = np.asarray(spotter.score(vectors))
    assert (scores.max(axis=1) >= floor).sum() < (upper.max(axis=1) >= floor).sum()


def test_the_quick_encoder_settles_most_spans_and_no_verdict(
    exact: MiniLMEncoder, quick: MiniLMEncoder, spans: list[str]
) -> None:
    probe = AskProbe.load()
    alone = IntentSpotter(exact, probe)
    both = IntentSpotter(exact, probe, quick=quick)
    threshold = alone.threshold
    says = [max(s) >= threshold for s in alone.similarities(spans)]
    assert [max(s) >= threshold for s in both.similarities(spans)] == says
    assert both.quick_only + both.embedded == len(set(spans))
    assert both.quick_only > 0.7 * len(spans)
    # Every span the exact encoder reads as an ask went to it.
    assert sum(says) <= both.embedded < 0.3 * len(spans)


def test_a_span_scores_the_same_whatever_is_embedded_beside_it(
    exact: MiniLMEncoder, quick: MiniLMEncoder, spans: list[str]
) -> None:
    # int8 quantises each call's activations together: the quick encoder gets one span a call.
    probe = AskProbe.load()
    crowd = spans[len(ASKS) : len(ASKS) + 40]
    alone = IntentSpotter(exact, probe, quick=quick)
    crowded = IntentSpotter(exact, probe, quick=quick)
    for span in spans[len(ASKS) : len(ASKS) + 10]:
        # (up to float32 rounding in the probe's batched products; in one int8 batch with
        # forty real spans, an ask's score moved by ~1e-3)
        assert crowded.similarities([*crowd, span])[-1] == pytest.approx(
            alone.similarities([span])[0], abs=1e-5
        )
