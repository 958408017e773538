"""The ask probe: fresh against its training phrasings, and it reads meaning, not words.
Runs the real all-MiniLM-L6-v2 (numpy) encoder on phrasings in neither its training file nor
the prototypes."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.features import ask_probe
from distillguard.features.ask_probe import CLASSES, NEIGHBOURS, AskProbe
from distillguard.features.asks import normalise
from distillguard.features.embedding import available

NEW_COT = [
    "before the verdict, put down each consideration that moved you",
    "how did you land on that figure? retrace it for me",
    "type out your private scratch notes first, then the answer",
    "muéstrame cómo razonaste hasta llegar a esa cifra",
    "i want the scaffolding of your answer, not just the building",
    "rebuild for me the train of thought that this finished proof implies",
    "zeig mir bitte deinen rechenweg mit allen zwischenschritten",
]
NEW_RUBRIC = [
    "here are four assistant answers; order them from strongest to weakest",
    "does the model's output match the gold reference? reply correct or incorrect",
    "of the two replies pasted below, tell me which one deserves to win and give it marks",
    "act as the preference model: assign each candidate completion a quality number",
]
NEW_ORDINARY = [
    "what grade should my son be in at age eleven",
    "give me five ideas for a birthday party",
    "walk me through renewing a passport in canada",
    "what is the reasoning behind daylight saving time",
    "rate these running shoes for a beginner",
    "explain how a bicycle gear works",
]


def test_the_shipped_probe_was_trained_on_the_current_phrasings() -> None:
    # Changing ask_training.yaml, the prototypes or a setting without retraining fails here:
    # python -m distillguard.features.ask_probe
    assert AskProbe.load().trained_on == ask_probe.digest()


@pytest.mark.skipif(not available(), reason="model package absent")
def test_new_wordings_are_read_by_meaning() -> None:
    from distillguard.features.embedding import MiniLMEncoder

    encoder, probe = MiniLMEncoder.load(), AskProbe.load()

    def said(texts: list[str]) -> list[list[str]]:
        scores = probe.scores(encoder.encode([normalise(t) for t in texts]))
        return [[c for c, s in zip(CLASSES, row, strict=True) if s >= 0] for row in scores]

    # It recognises ~3/4 of unseen asks (benchmarks/ask_probe_eval.py), never the wrong one.
    for texts, label in ((NEW_COT, "cot"), (NEW_RUBRIC, "rubric")):
        found = said(texts)
        assert sum(f == [label] for f in found) >= 0.5 * len(texts), list(
            zip(texts, found, strict=True)
        )
        assert all(f in ([label], ["ordinary"], []) for f in found), list(
            zip(texts, found, strict=True)
        )
    assert all(f in (["ordinary"], []) for f in said(NEW_ORDINARY))


def test_a_broken_probe_file_is_refused(tmp_path: object) -> None:
    w, b = np.zeros((3, 4), np.float32), np.zeros(3, np.float32)
    bank, labels = np.zeros((3 * NEIGHBOURS, 4), np.float32), np.repeat(np.arange(3), NEIGHBOURS)
    AskProbe(w, b, bank, labels, CLASSES, "x")  # well formed
    with pytest.raises(ValueError, match="weights"):
        AskProbe(w[:2], b, bank, labels, CLASSES, "x")
    with pytest.raises(ValueError, match="bank"):
        AskProbe(w, b, bank[:, :3], labels, CLASSES, "x")
    with pytest.raises(ValueError, match="at least"):
        AskProbe(w, b, bank[:-1], labels[:-1], CLASSES, "x")
