"""Watermark neutralisation (Pan et al., ACL 2025), as an attacker without the key runs it.

After distilling from harvested answers, the attacker estimates how the watermark skewed them:
it counts which token follows each context (the previous ``width`` tokens) in the corpus its
student learnt from and in a reference corpus it owns (unwatermarked text of the same kind),
and at decoding time subtracts the log-ratio of the two from the student's logits, through
the sampling loop's logits-processor hook. No key and no knowledge of the scheme are needed;
the lexicon-aware variant (``tokens=``) also uses the public synonym list. Both frequency
tables are smoothed towards their unigram, and only corrections that are clear (contexts and
pairs seen often enough, a log-ratio large enough) are kept: the rest is sampling noise, and
subtracting noise would only cost the student perplexity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from distillguard.forensics.students import BOS
from distillguard.forensics.students.tokenizer import target_start

__all__ = ["BiasSubtraction", "estimate_bias"]

Ids = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BiasSubtraction:
    """A ``LogitsProcessor`` subtracting ``strength`` x an estimated bias per (context, token)."""

    width: int
    vocab_size: int
    contexts: Ids  # sorted keys of the ``width`` previous ids
    starts: Ids
    ends: Ids
    tokens: Ids
    bias: NDArray[np.float64]
    strength: float = 1.0

    def __len__(self) -> int:
        return int(self.tokens.size)

    def __call__(
        self, input_ids: Ids, logits: NDArray[np.floating[Any]]
    ) -> NDArray[np.floating[Any]]:
        key = 0
        for token in _history(input_ids, self.width):
            key = key * self.vocab_size + int(token)
        i = int(np.searchsorted(self.contexts, key))
        if i == self.contexts.size or self.contexts[i] != key:
            return logits
        s, e = int(self.starts[i]), int(self.ends[i])
        out = np.array(logits, dtype=np.float64)
        out[self.tokens[s:e]] -= self.strength * self.bias[s:e]
        return out


def estimate_bias(
    harvested: Sequence[Ids],
    reference: Sequence[Ids],
    vocab_size: int,
    *,
    width: int = 1,
    smoothing: float = 5.0,
    min_count: int = 5,
    threshold: float = 0.4,
    clip: float = 3.0,
    tokens: Ids | None = None,
    strength: float = 1.0,
) -> BiasSubtraction:
    """log p_harvested(token | context) - log p_reference(token | context), where it is clear.

    Both estimates are smoothed towards their corpus's unigram (``smoothing`` pseudo-counts);
    a pair is kept when its context was seen ``min_count`` times in both corpora, the pair
    ``min_count`` times in either, and the log-ratio is at least ``threshold`` in size.
    ``tokens`` restricts the corrections to those tokens (an attacker who read the lexicon);
    ``strength`` scales the subtraction (1: the estimate as it is).
    """
    v = vocab_size
    hc, ht = _pairs(harvested, width, v)
    rc, rt = _pairs(reference, width, v)
    keys = np.union1d(hc * v + ht, rc * v + rt)
    context, token = keys // v, keys % v
    estimates = []
    for c, t in ((hc, ht), (rc, rt)):
        unigram = (np.bincount(t, minlength=v) + 1.0) / (t.size + v)
        pair_n, context_n = _count(c * v + t, keys), _count(c, context)
        p = (pair_n + smoothing * unigram[token]) / (context_n + smoothing)
        estimates.append((np.log(p), pair_n, context_n))
    (log_h, nh, ch), (log_r, nr, cr) = estimates
    bias = np.clip(log_h - log_r, -clip, clip)
    keep = (np.minimum(ch, cr) >= min_count) & (np.maximum(nh, nr) >= min_count)
    keep &= np.abs(bias) >= threshold
    if tokens is not None:
        keep &= np.isin(token, tokens)
    contexts, starts = np.unique(context[keep], return_index=True)
    ends = np.append(starts[1:], keep.sum()).astype(np.int64)
    return BiasSubtraction(
        width, v, contexts, starts.astype(np.int64), ends, token[keep], bias[keep], strength
    )


def _history(ids: NDArray[np.integer[Any]], width: int) -> list[int]:
    tail = [int(t) for t in ids[max(0, len(ids) - width) :]]
    return [BOS] * (width - len(tail)) + tail


def _pairs(seqs: Sequence[Ids], width: int, v: int) -> tuple[Ids, Ids]:
    """(context key, token) at every answer position of ``seqs``."""
    contexts, tokens = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for seq in seqs:
        padded = np.concatenate((np.full(width, BOS, dtype=np.int64), seq))
        windows = np.lib.stride_tricks.sliding_window_view(padded, width + 1)[target_start(seq) :]
        key = np.zeros(len(windows), dtype=np.int64)
        for j in range(width):
            key = key * v + windows[:, j]
        contexts.append(key)
        tokens.append(windows[:, width])
    return np.concatenate(contexts), np.concatenate(tokens)


def _count(observed: Ids, keys: Ids) -> NDArray[np.float64]:
    """How often each of ``keys`` occurs in ``observed``."""
    values, counts = np.unique(observed, return_counts=True)
    i = np.minimum(np.searchsorted(values, keys), max(values.size - 1, 0))
    found = values[i] == keys if values.size else np.zeros(keys.size, dtype=bool)
    return np.where(found, counts[i] if values.size else 0, 0).astype(np.float64)
