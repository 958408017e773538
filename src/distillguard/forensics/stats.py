"""How surprising a green count is when the text was never watermarked with the key.

Under the null hypothesis each scored unit is green independently with a known probability
(1/|set| for a text slot, gamma for a token), so the green count is a sum of binomials, one per
probability: a Poisson-binomial distribution. A unit may also carry a whole-number weight
fixed before the key is looked at (the text test weighs a unit by how often the corpus used
it); the statistic is then the weighted green count, a sum of scaled binomials. Its upper tail
is computed exactly, by convolving the (scaled) binomial pmfs (every term is positive, so tiny
tails keep their relative precision), and with ``scipy.stats.binom`` when all probabilities
and weights are equal. Only when the
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
    "Group",
    "green_evidence",
    "holm_adjust",
    "upper_tail",
]

P_FLOOR: Final = sys.float_info.min
EXACT_BUDGET: Final = 200_000_000  # multiply-adds, about a second of np.convolve

Group = tuple[int, float] | tuple[int, float, int]
"""(number of units, probability each is green under the null[, each unit's weight, default 1])."""
_Weighted = tuple[int, float, int]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a watermark test found in a corpus under one key."""

    n_scored: int  # units scored (weighted: the sum of their weights)
    n_green: int  # of those, how many took the key's choice (weighted likewise)
    expected_green: float  # the mean green count without the watermark
    z: float  # (n_green - expected) / standard deviation
    p_value: float  # P(green count >= n_green | no watermark), never below P_FLOOR
    scheme: str  # "text" or "logits"
    key_id: str  # public name of the key tested (keys.key_id)
    exact: bool = True  # False when p_value is the normal approximation

    def significant(self, alpha: float) -> bool:
        return self.p_value <= alpha


def green_evidence(n_green: int, groups: Sequence[Group], scheme: str, key_id: str) -> Evidence:
    """Evidence for a (weighted) green count ``n_green`` out of the units in ``groups``."""
    weighted = _weighted(groups)
    n_scored = sum(n * w for n, _, w in weighted)
    if not 0 <= n_green <= n_scored:
        raise ValueError(f"{n_green} green units out of {n_scored}")
    mean, sd = _moments(weighted)
    z = (n_green - mean) / sd if sd > 0 else 0.0
    p_value, exact = upper_tail(n_green, weighted)
    return Evidence(n_scored, n_green, mean, z, p_value, scheme, key_id, exact)


def upper_tail(x: int, groups: Sequence[Group], budget: int = EXACT_BUDGET) -> tuple[float, bool]:
    """P(X >= x) for X a sum of w * Binomial(n, p) over groups; and whether it is exact."""
    weighted = _weighted(groups)
    total = sum(n * w for n, _, w in weighted)
    if x <= 0:
        return 1.0, True
    if x > total:
        return P_FLOOR, True
    if len({(p, w) for _, p, w in weighted}) == 1:
        _, p, w = weighted[0]
        n = total // w
        return _floor(float(stats.binom.sf(math.ceil(x / w) - 1, n, p))), True
    pmfs = [(w, *_pmf(n, p)) for n, p, w in sorted(weighted)]
    cost, width = 0, 1
    for w, _, pmf in pmfs:  # a scaled pmf's zeros are skipped, so w does not multiply the cost
        cost += width * len(pmf)
        width += (len(pmf) - 1) * w
    if cost > budget:
        return _normal_tail(x, weighted), False
    offset, dist = 0, np.ones(1)
    for w, lo, pmf in pmfs:
        dist = _convolve_scaled(dist, pmf, w)
        offset += lo * w
    start = x - offset
    if start <= 0:
        return min(1.0, float(dist.sum())), True
    return _floor(float(dist[start:].sum())), True


def _convolve_scaled(
    dist: npt.NDArray[np.float64], pmf: npt.NDArray[np.float64], w: int
) -> npt.NDArray[np.float64]:
    """The distribution of X + w * Y, X ~ ``dist`` and Y ~ ``pmf`` (both from 0)."""
    if w == 1:
        return np.convolve(dist, pmf)
    out = np.zeros(len(dist) + (len(pmf) - 1) * w)
    for j, mass in enumerate(pmf):
        out[j * w : j * w + len(dist)] += mass * dist
    return out


def _weighted(groups: Sequence[Group]) -> list[_Weighted]:
    out: list[_Weighted] = []
    for group in groups:
        n, p, w = (*group, 1) if len(group) == 2 else group
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise ValueError(f"a unit's weight must be a positive whole number, not {w!r}")
        if not isinstance(n, int) or n < 0 or not 0.0 <= p <= 1.0:
            raise ValueError(f"a group needs a unit count >= 0 and 0 <= p <= 1, not {group!r}")
        if n > 0:
            out.append((n, p, w))
    return out


def _moments(groups: Sequence[_Weighted]) -> tuple[float, float]:
    mean = sum(n * p * w for n, p, w in groups)
    return mean, math.sqrt(sum(n * p * (1.0 - p) * w * w for n, p, w in groups))


def _pmf(n: int, p: float) -> tuple[int, npt.NDArray[np.float64]]:
    """A binomial pmf trimmed to where it is not 0.0 in floating point, and its first index."""
    pmf = np.asarray(stats.binom.pmf(np.arange(n + 1), n, p), dtype=np.float64)
    nonzero = np.flatnonzero(pmf)
    lo, hi = int(nonzero[0]), int(nonzero[-1])
    return lo, pmf[lo : hi + 1]


def _normal_tail(x: int, groups: Sequence[_Weighted]) -> float:
    mean, sd = _moments(groups)
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
