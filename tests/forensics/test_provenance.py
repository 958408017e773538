"""The provider key's calibration on clean reference text (``provenance.calibrate_key``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.forensics.provenance import (
    ProvenanceError,
    calibrate_key,
    default_reference,
    read_texts,
    run_provenance,
)
from distillguard.forensics.synonyms import Lexicon, LexiconError
from distillguard.forensics.textmark import TextWatermarker

SECRET = b"provenance-calibration-secret-01"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def reference() -> list[str]:
    return default_reference(1200)


def words(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)


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
    # Subsets are matched on words, not texts: within one answer of the suspect's size.
    assert calibration.suspect_words == words(marked)
    assert abs(calibration.subset_words - words(marked)) < 800
    assert not calibration.smaller_than_suspect
    assert calibration.as_significant == 0 and calibration.beaten == 1.0
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
    assert run_provenance(clean, SECRET, lexicon=lexicon).calibration is None  # not asked


def test_calibration_states_its_limits(lexicon: Lexicon, reference: list[str]) -> None:
    suspect = reference[1000:1100]
    with pytest.raises(ProvenanceError, match="too few"):
        run_provenance(suspect, SECRET, lexicon=lexicon, reference=[])  # asked, nothing given
    with pytest.raises(ProvenanceError, match="too few"):
        calibrate_key(reference[:3], words(suspect), 0.5, SECRET, lexicon=lexicon)
    with pytest.raises(ValueError, match="subset"):
        calibrate_key(reference, words(suspect), 0.5, SECRET, lexicon=lexicon, subsets=0)
    small = calibrate_key(reference[:40], words(suspect), 0.5, SECRET, lexicon=lexicon, subsets=20)
    assert small.subset_words <= words(reference[:40]) // 2 + 800  # half the pool, at most
    assert small.smaller_than_suspect  # and the report says so


def test_unreadable_inputs_are_clear_errors(tmp_path: Path) -> None:
    binary = tmp_path / "reference.txt"
    binary.write_bytes(b"\xff\xfe not text")
    with pytest.raises(ProvenanceError, match="not UTF-8"):
        read_texts(binary)
    for text, error in [
        ("- just a list\n", "a list under 'sets'"),
        ('sets:\n  - {members: [it is, "it\'s"], not_after: 5}\n', "not_after must be a list"),
        ("sets: [3]\n", "expected a mapping"),
        ("sets: [\n", "lexicon"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(LexiconError, match=error):
            Lexicon.load(bad)
    with pytest.raises(LexiconError, match="missing.yaml"):
        Lexicon.load(tmp_path / "missing.yaml")
