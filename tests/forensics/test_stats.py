"""Green-count p-values: exact against brute force, precise in the far tail, never zero."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from scipy import stats

from distillguard.forensics.stats import (
    P_FLOOR,
    Evidence,
    green_evidence,
    holm_adjust,
    upper_tail,
)


def exact_tail(
    x: int, groups: list[tuple[int, Fraction]], weights: list[int] | None = None
) -> Fraction:
    """P(X >= x) by dynamic programming over rationals, one unit at a time: the reference."""
    dist = [Fraction(1)]
    for (n, p), w in zip(groups, weights or [1] * len(groups), strict=True):
        for _ in range(n):
            nxt = [Fraction(0)] * (len(dist) + w)
            for k, mass in enumerate(dist):
                nxt[k] += mass * (1 - p)
                nxt[k + w] += mass * p
            dist = nxt
    return sum(dist[x:], Fraction(0))


GROUPS = [(7, Fraction(1, 2)), (5, Fraction(1, 3)), (4, Fraction(1, 4)), (2, Fraction(1, 5))]


@pytest.mark.parametrize("x", [0, 1, 4, 6, 9, 12, 16, 18])
def test_poisson_binomial_tail_is_exact(x: int) -> None:
    p, exact = upper_tail(x, [(n, float(q)) for n, q in GROUPS])
    assert exact
    assert p == pytest.approx(float(exact_tail(x, GROUPS)), rel=1e-12)


@pytest.mark.parametrize("x", [0, 1, 5, 11, 17, 24, 30, 35, 36])
def test_weighted_tail_is_exact(x: int) -> None:
    weights = [1, 2, 3, 4]
    p, exact = upper_tail(x, [(n, float(q), w) for (n, q), w in zip(GROUPS, weights, strict=True)])
    assert exact
    assert p == pytest.approx(float(exact_tail(x, GROUPS, weights)), rel=1e-12)


def test_equal_weights_and_probabilities_use_the_binomial() -> None:
    # 3 * Binomial(50, 1/2) >= x  <=>  Binomial >= ceil(x / 3)
    for x in (0, 75, 76, 78, 150):
        p, exact = upper_tail(x, [(20, 0.5, 3), (30, 0.5, 3)])
        assert exact
        reference = float(exact_tail(x, [(50, Fraction(1, 2))], [3]))
        assert p == pytest.approx(max(P_FLOOR, reference), rel=1e-12)


def test_weights_must_be_positive_whole_numbers() -> None:
    with pytest.raises(ValueError, match="weight"):
        upper_tail(3, [(10, 0.5, 0)])


def test_far_tail_keeps_relative_precision() -> None:
    groups = [(100, Fraction(1, 2)), (60, Fraction(1, 3)), (40, Fraction(1, 4))]
    for x in (120, 160, 190, 200):
        p, exact = upper_tail(x, [(n, float(q)) for n, q in groups])
        reference = exact_tail(x, groups)
        assert exact and p > 0
        assert p == pytest.approx(float(reference), rel=1e-9)  # down to ~1e-83


def test_equal_probabilities_use_the_binomial() -> None:
    for x in (0, 200, 300, 900, 1000):
        p, exact = upper_tail(x, [(400, 0.25), (600, 0.25)])
        assert exact
        assert p == pytest.approx(max(P_FLOOR, float(stats.binom.sf(x - 1, 1000, 0.25))))


def test_p_value_is_never_zero() -> None:
    assert upper_tail(3000, [(3000, 0.5), (10, 1 / 3)])[0] == P_FLOOR  # underflows: floored
    assert upper_tail(11, [(10, 0.5)])[0] == P_FLOOR  # impossible under the null
    assert upper_tail(5000, [(5000, 0.2)])[0] == P_FLOOR
    assert P_FLOOR > 0


def test_normal_approximation_only_past_the_budget() -> None:
    groups = [(2000, 0.5), (1500, 1 / 3), (800, 0.25)]
    exact_p, exact = upper_tail(1760, groups)  # mean 1700, sd 31.4
    approx_p, approximate = upper_tail(1760, groups, budget=1000)
    assert exact and not approximate
    assert approx_p == pytest.approx(exact_p, rel=0.05)


def test_evidence_fields() -> None:
    evidence = green_evidence(70, [(100, 0.5), (30, 0.25)], "text", "k1")
    assert isinstance(evidence, Evidence)
    assert evidence.n_scored == 130 and evidence.n_green == 70
    assert evidence.expected_green == pytest.approx(57.5)
    assert evidence.z == pytest.approx(12.5 / math.sqrt(25 + 30 * 0.1875))
    assert evidence.p_value == pytest.approx(upper_tail(70, [(100, 0.5), (30, 0.25)])[0])
    assert evidence.significant(0.05) and not evidence.significant(0.01)  # p = 0.015
    empty = green_evidence(0, [], "logits", "k2")
    assert (empty.n_scored, empty.z, empty.p_value) == (0, 0.0, 1.0)
    with pytest.raises(ValueError):
        green_evidence(5, [(4, 0.5)], "text", "k")


def test_holm_adjustment() -> None:
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []


def test_weighted_normal_approximation_only_past_the_budget() -> None:
    groups: list[tuple[int, float, int]] = [(900, 0.5, 1), (500, 1 / 3, 2), (300, 0.25, 4)]
    mean = 450 + 500 * 2 / 3 + 300
    exact_p, exact = upper_tail(round(mean + 60), groups)  # sd about 33
    approx_p, approximate = upper_tail(round(mean + 60), groups, budget=1000)
    assert exact and not approximate
    assert approx_p == pytest.approx(exact_p, rel=0.15)


@pytest.mark.parametrize(
    "group", [(5, 0.5, 0), (5, 0.5, 2.5), (5, 0.5, True), (-1, 0.5, 1), (5, 1.5, 1)]
)
def test_groups_must_make_sense(group: tuple[int, float, int]) -> None:
    with pytest.raises(ValueError, match="weight|unit count"):
        upper_tail(3, [group])
