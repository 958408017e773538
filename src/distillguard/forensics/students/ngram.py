"""An interpolated modified Kneser-Ney n-gram student, counted with numpy.

The cheapest model that can pick up a teacher's conditional word choices: "utilize" after
"to" is a trigram statistic. Counting is vectorised (an n-gram is one int64 key, counted with
`np.unique`), so training runs at millions of tokens a second and the student for a forensics
run is rebuilt in seconds rather than stored.

Smoothing follows Chen & Goodman (1998): three discounts per order (for counts 1, 2, 3+)
estimated from counts of counts, lower orders on continuation counts (how many distinct words
precede an n-gram), n-grams that start with `<bos>` on raw counts (they have no left context;
KenLM does the same), and the unigram interpolated with a uniform distribution so every token
of the vocabulary keeps some probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from distillguard.forensics.students.tokenizer import BOS, target_start

__all__ = ["NGramStudent"]

_FALLBACK_DISCOUNTS = (0.0, 0.5, 1.0, 1.5)  # for corpora too small to estimate them


@dataclass(frozen=True, slots=True)
class _Order:
    """The n-grams of one order k >= 2, grouped by their (k-1)-token context.

    p(w | h) = alpha[h, w] + gamma[h] * p_lower(w | h'), and p_lower alone for an unseen h.
    """

    context_keys: NDArray[np.int64]  # sorted
    gamma: NDArray[np.float64]  # per context: the mass left to the lower order
    starts: NDArray[np.int64]  # per context: its slice of the gram arrays
    ends: NDArray[np.int64]
    gram_keys: NDArray[np.int64]  # sorted; key = context_key * V + word
    alpha: NDArray[np.float64]  # per gram: discounted count / context total


@dataclass(frozen=True, slots=True)
class NGramStudent:
    """A smoothed n-gram model over token ids; `next_logits` gives log-probabilities."""

    order: int
    vocab_size: int
    unigram: NDArray[np.float64]  # p(w) over the whole vocabulary
    orders: tuple[_Order, ...]  # orders 2..n

    @classmethod
    def fit(
        cls, sequences: Sequence[NDArray[np.int64]], vocab_size: int, order: int = 3
    ) -> NGramStudent:
        """Count the target positions of `sequences` (answers; see `target_start`)."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if vocab_size < 2 or float(vocab_size) ** order >= 2.0**63:
            raise ValueError(f"vocab_size**order must fit in int64, got {vocab_size}**{order}")
        keys = np.concatenate(
            [_target_keys(np.asarray(seq, dtype=np.int64), order, vocab_size) for seq in sequences]
            or [np.zeros(0, dtype=np.int64)]
        )
        grams, raw = np.unique(keys, return_counts=True)
        counts = raw.astype(np.int64)
        levels: list[_Order] = []
        for k in range(order, 1, -1):
            levels.append(_build_order(grams, counts, vocab_size))
            grams, counts, raw = _lower(grams, raw, k, vocab_size)
        unigram = _unigram(grams, counts, vocab_size)
        return cls(order, vocab_size, unigram, tuple(reversed(levels)))

    def next_logits(self, context_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """Log-probabilities of the next token after `context_ids` (its last order-1 ids)."""
        history = _history(np.asarray(context_ids, dtype=np.int64), self.order - 1)
        probs = self.unigram.copy()
        v = self.vocab_size
        for k, level in enumerate(self.orders, start=2):
            key = 0
            for token in history[len(history) - (k - 1) :]:
                key = key * v + int(token)
            i = int(np.searchsorted(level.context_keys, key))
            if i == level.context_keys.size or level.context_keys[i] != key:
                continue
            start, end = int(level.starts[i]), int(level.ends[i])
            probs *= level.gamma[i]
            probs[level.gram_keys[start:end] % v] += level.alpha[start:end]
        return np.log(probs).astype(np.float32)

    def token_log_probs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """log p(ids[i] | ids[:i]) for i = 1 .. len(ids) - 1, vectorised over positions."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size < 2:
            return np.zeros(0, dtype=np.float64)
        v = self.vocab_size
        padded = np.concatenate((np.full(self.order - 1, BOS, dtype=np.int64), ids))
        targets = ids[1:]
        probs = self.unigram[targets]
        for k, level in enumerate(self.orders, start=2):
            # the k-1 tokens before each target at positions 1..n-1 of `ids`
            lead = self.order - k
            windows = np.lib.stride_tricks.sliding_window_view(padded[lead + 1 :], k - 1)
            context = _keys(windows[: targets.size], v)
            found_ctx, ctx_i = _lookup(level.context_keys, context)
            found_gram, gram_i = _lookup(level.gram_keys, context * v + targets)
            alpha = np.where(found_gram, level.alpha[gram_i], 0.0)
            mixed = alpha + level.gamma[ctx_i] * probs
            probs = np.where(found_ctx, mixed, probs)
        return np.log(probs)


def _target_keys(seq: NDArray[np.int64], order: int, v: int) -> NDArray[np.int64]:
    padded = np.concatenate((np.full(order - 1, BOS, dtype=np.int64), seq))
    windows = np.lib.stride_tricks.sliding_window_view(padded, order)
    return _keys(windows[target_start(seq) :], v)


def _keys(windows: NDArray[np.int64], v: int) -> NDArray[np.int64]:
    key = np.zeros(windows.shape[0], dtype=np.int64)
    for j in range(windows.shape[1]):
        key = key * v + windows[:, j]
    return key


def _history(context: NDArray[np.int64], length: int) -> NDArray[np.int64]:
    if length == 0:
        return context[:0]
    padded = np.concatenate((np.full(length, BOS, dtype=np.int64), context))
    return padded[-length:]


def _lookup(
    sorted_keys: NDArray[np.int64], keys: NDArray[np.int64]
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=np.bool_), np.zeros(keys.size, dtype=np.int64)
    i = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[i] == keys, i.astype(np.int64)


def _discounts(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """[0, D1, D2, D3+] from counts of counts (Chen & Goodman's estimates)."""
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == c)) for c in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return np.array(_FALLBACK_DISCOUNTS)
    y = n1 / (n1 + 2 * n2)
    d = [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]
    clipped = [float(np.clip(x, 0.05, c - 0.05)) for c, x in enumerate(d, start=1)]
    return np.array([0.0, *clipped])


def _build_order(grams: NDArray[np.int64], counts: NDArray[np.int64], v: int) -> _Order:
    discount = _discounts(counts)[np.minimum(counts, 3)]
    contexts = grams // v
    context_keys, starts = np.unique(contexts, return_index=True)
    if grams.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return _Order(context_keys, empty, starts, starts, grams, empty)
    ends = np.append(starts[1:], grams.size)
    total = np.add.reduceat(counts.astype(np.float64), starts)
    owner = np.repeat(np.arange(context_keys.size), ends - starts)
    alpha = (counts - discount) / total[owner]
    gamma = np.add.reduceat(discount, starts) / total
    return _Order(context_keys, gamma, starts.astype(np.int64), ends, grams, alpha)


def _lower(
    grams: NDArray[np.int64], raw: NDArray[np.int64], k: int, v: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(k-1)-grams with their KN counts (distinct left words; raw after `<bos>`) and raw counts."""
    suffixes = grams % v ** (k - 1)
    lower, inverse = np.unique(suffixes, return_inverse=True)
    continuation = np.bincount(inverse, minlength=lower.size).astype(np.int64)
    lower_raw = np.bincount(inverse, weights=raw, minlength=lower.size).astype(np.int64)
    starts_with_bos = lower // v ** (k - 2) == BOS
    return lower, np.where(starts_with_bos, lower_raw, continuation), lower_raw


def _unigram(words: NDArray[np.int64], counts: NDArray[np.int64], v: int) -> NDArray[np.float64]:
    uniform = np.full(v, 1.0 / v)
    if words.size == 0:
        return uniform
    discount = _discounts(counts)[np.minimum(counts, 3)]
    total = float(counts.sum())
    probs = uniform * float(discount.sum()) / total
    probs[words] += (counts - discount) / total
    return probs
