"""A green-list watermark in the logits, for self-hosted upstreams that take a processor.

Kirchenbauer et al. (2023): before each token is sampled, a keyed function of the previous
``context_width`` token ids marks a ``gamma`` fraction of the vocabulary "green" and ``delta``
is added to the green logits. Text generated this way holds far more green tokens than the
gamma expected by chance, and so does a model trained on it (Sander et al. 2024).

Green membership is a keyed hash per (context, token), computed for the whole vocabulary at
once in numpy: the context gives a 64-bit seed through BLAKE2b keyed with a key derived from
the secret, and each token id is mixed into it with the splitmix64 finaliser (bijective,
passes BigCrush); a token is green when the top 53 bits fall below ``gamma * 2**53``. Against a
keyed permutation of the vocabulary per context, this needs no cache (a 50k permutation costs
about as much as a whole mask here, and a cache of 50 kB masks grows with every context),
checking one (context, token) during detection is a single scalar hash, and each distinct
(context, token) is green with probability gamma independently of every other, which keeps
the detection null exact. The price: a context's green list holds Binomial(V, gamma) tokens
rather than exactly gamma * V, a difference of a fraction of a percent at V = 50k. (Under a
millisecond per call for a 50k vocabulary on one core: small beside a forward pass.)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from distillguard.forensics.keys import derive, keyed_u64

__all__ = ["GreenList", "GreenListProcessor", "TokenUnits", "Unit", "token_terms"]

U64 = npt.NDArray[np.uint64]
_SEED_LABEL: Final = b"distillguard/forensics/logitmark/seed"
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_MIX1: Final = np.uint64(0xBF58476D1CE4E5B9)
_MIX2: Final = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = (np.uint64(s) for s in (11, 27, 30, 31))


class GreenList:
    """Which tokens are green after a given context, under one key."""

    def __init__(self, key: bytes, gamma: float = 0.25, context_width: int = 1) -> None:
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma must be in (0, 1), got {gamma}")
        if context_width < 0:
            raise ValueError(f"context_width must be >= 0, got {context_width}")
        self._seed_key = derive(key, _SEED_LABEL)
        self._threshold = np.uint64(round(gamma * 2.0**53))
        self.gamma = float(self._threshold) / 2.0**53  # the exact null probability
        self.context_width = context_width

    def context(self, ids: Sequence[int] | npt.NDArray[np.integer]) -> tuple[int, ...]:
        """The context the next token's green list depends on: the last ids, as ints."""
        width = self.context_width
        tail = ids[len(ids) - width :] if width else ids[:0]
        return tuple(int(i) for i in tail)

    def seed(self, context: tuple[int, ...]) -> int:
        return keyed_u64(self._seed_key, struct.pack(f"<{len(context)}q", *context))

    def is_green(self, seeds: U64, token_terms: U64) -> npt.NDArray[np.bool_]:
        """Vectorised test; ``token_terms`` are token ids times the splitmix increment."""
        x = seeds + token_terms
        x ^= x >> _S30
        x *= _MIX1
        x ^= x >> _S27
        x *= _MIX2
        x ^= x >> _S31
        return np.asarray((x >> _S11) < self._threshold)

    def green(self, units: TokenUnits | Sequence[Unit]) -> npt.NDArray[np.bool_]:
        """For each (context, token) unit, whether the token was green."""
        if not isinstance(units, TokenUnits):
            units = TokenUnits.of(units)
        seeds = np.array([self.seed(c) for c in units.contexts], dtype=np.uint64)  # one each
        return self.is_green(seeds[units.inverse], units.terms)


Unit = tuple[tuple[int, ...], int]
"""(the context ids, the token id that followed them)."""


@dataclass(frozen=True, slots=True)
class TokenUnits:
    """Scored units in the form the green test wants; independent of the key."""

    contexts: tuple[tuple[int, ...], ...]  # distinct contexts, each hashed once per key
    inverse: npt.NDArray[np.intp]  # for each unit, its context's index in ``contexts``
    terms: U64  # for each unit, its token's term (``token_terms``)

    @classmethod
    def of(cls, units: Sequence[Unit]) -> TokenUnits:
        index: dict[tuple[int, ...], int] = {}
        inverse = [index.setdefault(context, len(index)) for context, _ in units]
        return cls(
            contexts=tuple(index),
            inverse=np.asarray(inverse, dtype=np.intp),
            terms=token_terms([token for _, token in units]),
        )

    def __len__(self) -> int:
        return len(self.inverse)


def token_terms(tokens: Iterable[int] | npt.NDArray[np.integer]) -> U64:
    terms: U64 = np.asarray(np.fromiter(tokens, dtype=np.int64), dtype=np.uint64) * _GOLDEN
    return terms


class GreenListProcessor:
    """Adds ``delta`` to the green logits: a llama-cpp-python ``LogitsProcessor``.

    Called as ``processor(input_ids, logits)`` with the ids so far (1-D) and the next token's
    logits (1-D, one per vocabulary entry), or with a batch of each (2-D); returns new logits
    of the same dtype and leaves its arguments alone. With fewer than ``context_width`` ids
    the context is the ids there are.
    """

    def __init__(
        self,
        key: bytes,
        vocab_size: int,
        gamma: float = 0.25,
        delta: float = 2.0,
        context_width: int = 1,
    ) -> None:
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if not np.isfinite(delta) or delta < 0:
            raise ValueError(f"delta must be finite and >= 0, got {delta}")
        self.green_list = GreenList(key, gamma, context_width)
        self.vocab_size = vocab_size
        self.delta = delta
        self._terms = token_terms(np.arange(vocab_size))

    def green_mask(
        self, input_ids: Sequence[int] | npt.NDArray[np.integer]
    ) -> npt.NDArray[np.bool_]:
        """The green list for the token that follows ``input_ids``."""
        seed = self.green_list.seed(self.green_list.context(input_ids))
        return self.green_list.is_green(np.full(1, seed, dtype=np.uint64), self._terms)

    def __call__(
        self, input_ids: npt.NDArray[np.integer], logits: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.floating]:
        scores = np.asarray(logits)
        if scores.shape[-1] != self.vocab_size:
            raise ValueError(f"logits have {scores.shape[-1]} entries, vocab is {self.vocab_size}")
        ids = np.asarray(input_ids)
        out = scores.copy()
        delta = out.dtype.type(self.delta)
        if scores.ndim == 1:
            out += self.green_mask(ids) * delta  # + 0.0 elsewhere: those logits stay exact
            return out
        if scores.ndim != 2 or ids.ndim != 2 or len(ids) != len(scores):
            raise ValueError("expected 1-D ids and logits, or a batch of each (2-D)")
        for row, row_ids in enumerate(ids):
            out[row] += self.green_mask(row_ids) * delta
        return out
