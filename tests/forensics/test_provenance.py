"""The provider key's calibration on clean reference text (``provenance.calibrate_key``)."""

from __future__ import annotations

import pytest

from distillguard.forensics.provenance import (
    ProvenanceError,
    calibrate_key,
    default_reference,
    run_provenance,
)
from distillguard.forensics.synonyms import Lexicon
from distillguard.forensics.textmark import TextWatermarker

SECRET = b"provenance-calibration-secret-01"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def reference() -> list[str]:
    return default_reference(1200)


def test_default_reference_is_clean_prose_from_its_own_slice() -> None:
    texts = default_reference(50)
    assert len(texts) == 50 and all(t.isascii() and len(t.split()) >= 20 for t in texts)
    assert default_reference(50, skip=14_100) != texts  # a slice, not a fixed sample


def test_a_marked_suspect_beats_every_clean_subset(lexicon: Lexicon, reference: list[str]) -> None:
    pool, suspect_source = reference[:1000], reference[1000:1100]
    marked = [TextWatermarker.from_secret(lexicon, SECRET).watermark(t) for t in suspect_source]
    report = run_provenance(marked, SECRET, lexicon=lexicon, reference=pool, subsets=100)
    calibration = report.calibration
    assert calibration is not None and report.trained_on_ours
    assert calibration.subset_texts == 100 and calibration.subsets == 100
    assert calibration.empirical_p == pytest.approx(1 / 101)  # the floor
    assert calibration.key_is_calibrated  # this key is not trigger-happy on clean answers
    assert calibration.false_positive_rate <= 0.05
    json = report.to_json()["key_calibration"]
    assert json["empirical_p"] == calibration.empirical_p and json["key_is_calibrated"]


def test_a_clean_suspect_sits_inside_the_clean_subsets(
    lexicon: Lexicon, reference: list[str]
) -> None:
    clean = reference[1000:1100]
    report = run_provenance(clean, SECRET, lexicon=lexicon, reference=reference[:1000])
    assert not report.trained_on_ours
    assert report.calibration is not None and report.calibration.empirical_p > 0.05
    assert run_provenance(clean, SECRET, lexicon=lexicon).calibration is None  # no reference


def test_calibration_states_its_limits(lexicon: Lexicon, reference: list[str]) -> None:
    with pytest.raises(ProvenanceError, match="too few"):
        calibrate_key(reference[:3], 0.5, 10, SECRET, lexicon=lexicon)
    small = calibrate_key(reference[:40], 0.5, 100, SECRET, lexicon=lexicon, subsets=20)
    assert small.subset_texts == 20  # at most half the pool, so the subsets differ
