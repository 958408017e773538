"""The logits watermark: what the processor does to logits, detection, and a calibrated null.

The decoder here is a toy: random logits per step, sampled with numpy. Repetitive sequences
show why units are deduplicated: counted again, repeats make the test fire on clean text.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distillguard.forensics.detect import LogitWatermarkTest, WatermarkTest
from distillguard.forensics.logitmark import GreenList, GreenListProcessor
from distillguard.forensics.stats import Evidence

KEY = b"logits-key-for-tests-00000000001"
VOCAB = 50_257


def generate(
    processor: GreenListProcessor | None, rng: np.random.Generator, tokens: int, vocab: int
) -> list[int]:
    """Sample a sequence from random logits, through the processor if there is one."""
    ids = [int(rng.integers(vocab))]  # the "prompt"
    for _ in range(tokens):
        logits = rng.normal(0.0, 2.0, vocab).astype(np.float32)
        if processor is not None:
            logits = processor(np.asarray(ids, dtype=np.intc), logits)
        probs = np.exp(logits - logits.max())
        ids.append(int(rng.choice(vocab, p=probs / probs.sum())))
    return ids


def test_processor_adds_delta_to_green_logits_only() -> None:
    processor = GreenListProcessor(KEY, VOCAB, gamma=0.25, delta=2.0)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=VOCAB).astype(np.float32)
    before = logits.copy()
    ids = np.array([5, 17, 99], dtype=np.intc)
    out = processor(ids, logits)
    assert np.array_equal(logits, before)  # the input is not modified
    assert out.dtype == np.float32 and out.shape == logits.shape
    green = processor.green_mask(ids)
    assert np.array_equal(out[~green], logits[~green])
    np.testing.assert_allclose(out[green] - logits[green], 2.0, rtol=1e-6, atol=1e-6)
    # The green fraction is gamma, within binomial error.
    assert abs(green.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / VOCAB)
    # The green list follows the last id (context_width=1), the key and nothing else.
    assert np.array_equal(green, processor.green_mask([1, 2, 99]))
    assert not np.array_equal(green, processor.green_mask([5, 17, 98]))
    other = GreenListProcessor(b"another-key-for-tests-0000000001", VOCAB)
    assert not np.array_equal(green, other.green_mask(ids))


def test_processor_batches_and_wider_contexts() -> None:
    processor = GreenListProcessor(KEY, 1000, gamma=0.5, delta=1.5, context_width=2)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 1000, size=(3, 6))
    logits = rng.normal(size=(3, 1000))
    out = processor(ids, logits)
    for row in range(3):
        assert np.array_equal(out[row], processor(ids[row], logits[row]))
    assert np.array_equal(processor.green_mask([1, 2, 3]), processor.green_mask([9, 2, 3]))
    assert not np.array_equal(processor.green_mask([1, 2, 3]), processor.green_mask([1, 9, 3]))
    with pytest.raises(ValueError, match="entries"):
        processor(ids[0], logits[0, :999])


def test_processor_and_detector_agree_on_green() -> None:
    processor = GreenListProcessor(KEY, 1000, context_width=2)
    green_list = GreenList(KEY, 0.25, context_width=2)
    units = [((3, 4), 7), ((4, 7), 0), ((0, 0), 999)]
    expected = [bool(processor.green_mask(list(ctx))[tok]) for ctx, tok in units]
    assert green_list.green(units).tolist() == expected


def test_generated_tokens_are_detected() -> None:
    rng = np.random.default_rng(3)
    processor = GreenListProcessor(KEY, 5000, gamma=0.25, delta=2.0)
    marked = generate(processor, rng, 200, 5000)
    test: WatermarkTest[list[int]] = LogitWatermarkTest(KEY)
    evidence = test.score([marked])
    assert evidence.n_scored == 200
    assert evidence.p_value < 1e-4
    assert evidence.scheme == "logits"
    clean = generate(None, rng, 200, 5000)
    assert LogitWatermarkTest(KEY).score([clean]).p_value > 1e-3
    assert LogitWatermarkTest(b"some-other-key-000000000000000001").score([marked]).p_value > 1e-3


def _null_evidence(corpus: list[list[int]], keys: int, dedup: bool, seed: int) -> list[Evidence]:
    """Evidence on one unwatermarked corpus under many random keys."""
    rng = np.random.default_rng(seed)
    units = LogitWatermarkTest(KEY, dedup=dedup).units(corpus)  # the same for every key
    return [LogitWatermarkTest(rng.bytes(32), dedup=dedup).score_units(units) for _ in range(keys)]


def _calibrated(found: list[Evidence], seed: int = 0) -> bool:
    """False positives at 1% within sampling error, and p-values uniform.

    An exact test of a discrete count is conservative: its p-values sit on a lattice, which a
    KS test over many keys can tell from uniform. The randomised p-value, P(X > x) + U P(X = x),
    is exactly uniform under the null, so uniformity is checked on that.
    """
    u = np.random.default_rng(seed).random(len(found))
    randomised = [
        e.p_value - v * stats.binom.pmf(e.n_green, e.n_scored, 0.25)
        for e, v in zip(found, u, strict=True)
    ]
    false_positives = sum(e.p_value <= 0.01 for e in found)
    return bool(
        false_positives <= stats.binom.ppf(0.999, len(found), 0.01)
        and stats.kstest(randomised, "uniform").pvalue > 1e-3
    )


def test_null_is_calibrated_on_random_tokens() -> None:
    rng = np.random.default_rng(4)
    corpus = [list(rng.integers(0, VOCAB, 250)) for _ in range(4)]
    units = LogitWatermarkTest(KEY).units(corpus)
    other = LogitWatermarkTest(b"another-key-for-tests-0000000001").units(corpus)
    assert units.contexts == other.contexts and np.array_equal(units.terms, other.terms)
    assert len(units) == 4 * 249  # every position after the first, no repeats in random text
    assert _calibrated(_null_evidence(corpus, 400, dedup=True, seed=5))


def test_dedup_keeps_the_null_calibrated_on_repetitive_text() -> None:
    # 40 distinct 25-token passages, each repeated 10 times (a harvester's boilerplate).
    rng = np.random.default_rng(6)
    passages = [list(rng.integers(0, 2000, 25)) for _ in range(40)]
    corpus = [passage * 10 for passage in passages]
    deduped = _null_evidence(corpus, 400, dedup=True, seed=7)
    counted = _null_evidence(corpus, 400, dedup=False, seed=7)
    assert _calibrated(deduped)
    assert not _calibrated(counted)
    assert sum(e.p_value <= 0.01 for e in counted) > 0.1 * len(counted)  # ~20x the nominal 1%


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="gamma"):
        GreenListProcessor(KEY, 100, gamma=1.0)
    with pytest.raises(ValueError, match="delta"):
        GreenListProcessor(KEY, 100, delta=float("nan"))
    with pytest.raises(ValueError, match="vocab_size"):
        GreenListProcessor(KEY, 0)
