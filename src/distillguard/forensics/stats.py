"""How surprising a green count is when the text was never watermarked with the key.

Under the null hypothesis each scored unit is green independently with a known probability
(1/|set| for a text slot, gamma for a token), so the green count is a sum of binomials, one per
probability: a Poisson-binomial distribution. Its upper tail is computed exactly, by
convolving the binomial pmfs (every term is positive, so tiny tails keep their relative
precision), and with ``scipy.stats.binom`` when all probabilities are equal. Only when the
convolution would cost more than ``EXACT_BUDGET`` multiply-adds does a normal approximation
(with continuity correction) take over, and ``Evidence.exact`` says so.

A p-value is never 0: tails below the smallest positive normal double, ``P_FLOOR`` (about
2.2e-308), are reported as ``P_FLOOR``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "EXACT_BUDGET",
    "P_FLOOR",
    "Evidence",
    "green_evidence",
    "holm_adjust",
    "upper_tail",
]

P_FLOOR: Final = sys.float_info.min
EXACT_BUDGET: Final = 200_000_000  # multiply-adds, about a second of np.convolve

Group = tuple[int, float]
"""(number of units, probability each is green under the null)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a watermark test found in a corpus under one key."""

    n_scored: int  # distinct units scored
    n_green: int  # of those, how many took the key's choice
    expected_green: float  # the mean green count without the watermark
    z: float  # (n_green - expected) / standard deviation
    p_value: float  # P(green count >= n_green | no watermark), never below P_FLOOR
    scheme: str  # "text" or "logits"
    key_id: str  # public name of the key tested (keys.key_id)
    exact: bool = True  # False when p_value is the normal approximation

    def significant(self, alpha: float) -> bool:
        return self.p_value <= alpha


def green_evidence(n_green: int, groups: Sequence[Group], scheme: str, key_id: str) -> Evidence:
    """Evidence for ``n_green`` green units out of units in ``groups``."""
    groups = [(n, p) for n, p in groups if n > 0]
    n_scored = sum(n for n, _ in groups)
    if not 0 <= n_green <= n_scored:
        raise ValueError(f"{n_green} green units out of {n_scored}")
    mean = sum(n * p for n, p in groups)
    sd = math.sqrt(sum(n * p * (1.0 - p) for n, p in groups))
    z = (n_green - mean) / sd if sd > 0 else 0.0
    p_value, exact = upper_tail(n_green, groups)
    return Evidence(n_scored, n_green, mean, z, p_value, scheme, key_id, exact)


def upper_tail(x: int, groups: Sequence[Group], budget: int = EXACT_BUDGET) -> tuple[float, bool]:
    """P(X >= x) for X a sum of Binomial(n, p) over groups; and whether it is exact."""
    groups = [(n, p) for n, p in groups if n > 0]
    total = sum(n for n, _ in groups)
    if x <= 0:
        return 1.0, True
    if x > total:
        return P_FLOOR, True
    if len({p for _, p in groups}) == 1:
        p = groups[0][1]
        return _floor(float(stats.binom.sf(x - 1, total, p))), True
    pmfs = [_pmf(n, p) for n, p in sorted(groups)]
    cost, width = 0, 1
    for _, pmf in pmfs:
        cost += width * len(pmf)
        width += len(pmf) - 1
    if cost > budget:
        return _normal_tail(x, groups), False
    offset, dist = 0, np.ones(1)
    for lo, pmf in pmfs:
        dist = np.convolve(dist, pmf)
        offset += lo
    start = x - offset
    if start <= 0:
        return min(1.0, float(dist.sum())), True
    return _floor(float(dist[start:].sum())), True


def _pmf(n: int, p: float) -> tuple[int, npt.NDArray[np.float64]]:
    """A binomial pmf trimmed to where it is not 0.0 in floating point, and its first index."""
    pmf = np.asarray(stats.binom.pmf(np.arange(n + 1), n, p), dtype=np.float64)
    nonzero = np.flatnonzero(pmf)
    lo, hi = int(nonzero[0]), int(nonzero[-1])
    return lo, pmf[lo : hi + 1]


def _normal_tail(x: int, groups: Sequence[Group]) -> float:
    mean = sum(n * p for n, p in groups)
    sd = math.sqrt(sum(n * p * (1.0 - p) for n, p in groups))
    return _floor(float(stats.norm.sf((x - 0.5 - mean) / sd)))


def _floor(p: float) -> float:
    return max(P_FLOOR, min(1.0, p))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: reject those <= alpha for family-wise level alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
