"""Held-out perplexity of a student, per token and per word.

Per word (whitespace-separated words of the answers) is the figure to compare across models and
tokenizers: the word tokenizer also emits punctuation, digits and line breaks as tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from distillguard.forensics.students.tokenizer import target_start

__all__ = ["Perplexity", "ScoringModel", "perplexity"]


class ScoringModel(Protocol):
    def token_log_probs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """log p(ids[i] | ids[:i]) for i = 1 .. len(ids) - 1."""
        ...


@dataclass(frozen=True, slots=True)
class Perplexity:
    nll: float  # nats, summed over the target tokens
    tokens: int  # target tokens scored (answers and their `<eos>`)
    words: int

    @property
    def per_token(self) -> float:
        return math.exp(self.nll / max(self.tokens, 1))

    @property
    def per_word(self) -> float:
        return math.exp(self.nll / max(self.words, 1))


def perplexity(
    model: ScoringModel, sequences: Sequence[NDArray[np.int64]], words: int
) -> Perplexity:
    """Score the target positions (see `target_start`) of `sequences`.

    `words` is the number of words in the scored text, e.g. `sum(len(a.split()) for a in
    answers)`; the caller has the text, the ids do not keep it.
    """
    nll = 0.0
    tokens = 0
    for seq in sequences:
        scores = model.token_log_probs(seq)[target_start(seq) - 1 :]
        nll -= float(scores.sum())
        tokens += scores.size
    return Perplexity(nll=nll, tokens=tokens, words=words)
