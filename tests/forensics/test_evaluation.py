"""The forensics evaluation end to end, small: students of watermarked answers are caught.

Real ShareGPT answers, watermarked or not, train two 3-gram students; the provider test must
fire on the watermarked student's answers and not on the clean one's, and an attacker's
watermark neutralisation must weaken the evidence. Also: the fast n-gram sampler draws from
the student's own distribution, and the paraphrase proxies do what they say.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from distillguard.data.sharegpt import iter_conversations
from distillguard.forensics.detect import TextWatermarkTest
from distillguard.forensics.evaluation import (
    NGramSampler,
    calibration,
    edit_words,
    redraw_synonyms,
)
from distillguard.forensics.neutralisation import estimate_bias
from distillguard.forensics.students import (
    BOS,
    SEP,
    UNK,
    NGramStudent,
    WordTokenizer,
    generate_many,
)
from distillguard.forensics.synonyms import Lexicon
from distillguard.forensics.textmark import TextWatermarker

SECRET = b"provider-secret-for-evaluation-1"
_LATIN = re.compile(r"[A-Za-z]")


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    """(prompt, answer) pairs with mostly-Latin answers of 20-800 words."""
    found = []
    for conversation in iter_conversations(limit=1400):
        for ex in conversation.exchanges():
            if 20 <= len(ex.answer.split()) <= 800 and len(_LATIN.findall(ex.answer)) > 50:
                found.append((" ".join(ex.prompt.split()[-48:]), ex.answer))
    assert len(found) > 3000
    return found


@pytest.fixture(scope="module")
def world(
    lexicon: Lexicon, pairs: list[tuple[str, str]]
) -> tuple[WordTokenizer, NGramStudent, NGramStudent, list[str], list[list[int]]]:
    served = TextWatermarker.from_secret(lexicon, SECRET, "harvester")
    marked = [(p, served.watermark(a)) for p, a in pairs[:1300]]
    clean = pairs[1300:2600]
    tokenizer = WordTokenizer.fit((t for pair in marked + clean for t in pair), max_size=6000)
    encode = [tokenizer.encode_example(p, a) for p, a in marked]
    students = [NGramStudent.fit(encode, tokenizer.vocab_size, 3)]
    other = [tokenizer.encode_example(p, a) for p, a in clean]
    students.append(NGramStudent.fit(other, tokenizer.vocab_size, 3))
    prompts = [p for p, _ in pairs[-400:]]
    reference = [tokenizer.encode_example(p, a) for p, a in pairs[2600:3000]]
    return tokenizer, students[0], students[1], prompts, [list(s) for s in encode + reference]


@pytest.mark.slow
def test_watermarked_student_is_caught_and_neutralisation_weakens_it(
    lexicon: Lexicon,
    world: tuple[WordTokenizer, NGramStudent, NGramStudent, list[str], list[list[int]]],
) -> None:
    tokenizer, marked, clean, prompts, _ = world
    test = TextWatermarkTest(lexicon, SECRET)
    contexts = [tokenizer.encode_prompt(p) for p in prompts]
    p_values = []
    for student in (marked, clean):
        ids = NGramSampler(student).generate(contexts, 200, np.random.default_rng(1))
        p_values.append(test.score([tokenizer.decode(x) for x in ids]).p_value)
    assert p_values[0] < 1e-3
    assert p_values[1] > 0.01

    _, _, _, _, seqs = world
    harvested = [np.asarray(s, dtype=np.int64) for s in seqs[:1300]]
    reference = [np.asarray(s, dtype=np.int64) for s in seqs[1300:]]
    bias = estimate_bias(harvested, reference, tokenizer.vocab_size, min_count=3)
    assert len(bias) > 0
    found = []
    for processors in ((), (bias,)):
        rng = np.random.default_rng(2)  # the same draws: only the processor differs
        texts = generate_many(marked, tokenizer, prompts[:120], 150, rng, processors=processors)
        found.append(test.score(texts))
    plain, neutralised = found
    assert plain.p_value < 1e-3
    assert neutralised.p_value > 10 * plain.p_value
    assert neutralised.n_green / neutralised.n_scored < plain.n_green / plain.n_scored


def test_sampler_draws_from_the_students_distribution() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(300)]
    tokenizer = WordTokenizer.fit(texts + ["q"])
    student = NGramStudent.fit([tokenizer.encode_example("q", t) for t in texts], 35, 3)
    context = tokenizer.encode_prompt("q")
    history = [BOS, BOS, *context.tolist(), int(tokenizer.encode(" w3")[0])]
    draws = [NGramSampler(student).draw(history, rng) for _ in range(40_000)]
    observed = np.bincount(draws, minlength=35) / len(draws)
    expected = np.exp(student.next_logits(np.asarray(history[2:], dtype=np.int64)))
    assert np.abs(observed - expected).max() < 0.01
    ids = NGramSampler(student).generate([context] * 50, 30, np.random.default_rng(3))
    assert not np.isin(np.concatenate(ids), [BOS, SEP, UNK]).any()


def test_paraphrase_proxies(lexicon: Lexicon) -> None:
    text = "It is fine, and for example you are right. Additionally, it is done."
    rng = np.random.default_rng(0)
    assert redraw_synonyms(text, lexicon, 0.0, rng) == text
    redrawn = {redraw_synonyms(text, lexicon, 1.0, rng) for _ in range(50)}
    assert len(redrawn) > 10 and all(len(t.split()) >= 11 for t in redrawn)
    assert edit_words(text, 0.0, rng) == text
    assert edit_words(text, 1.0, rng) == ""
    swapped = edit_words(text, 1.0, rng, ["zebra"])
    assert set(re.findall(r"[a-z]+", swapped)) == {"zebra"}


def test_calibration_of_uniform_p_values() -> None:
    p_values = np.random.default_rng(5).random(2000).tolist()
    result = calibration(p_values, alpha=0.01)
    assert result.low <= 0.01 <= result.high
    assert result.ks_p > 0.01


def test_randomised_null_p_values_are_uniform_with_weighted_units(
    lexicon: Lexicon, pairs: list[tuple[str, str]]
) -> None:
    """On clean answers (many units repeat, so weights > 1 occur) the randomised p-value is
    Uniform(0, 1) over random keys, and never above the discrete one."""
    from scipy import stats

    from distillguard.forensics.detect import text_slots, text_units
    from distillguard.forensics.evaluation import text_null

    slots = text_slots([answer for _, answer in pairs[:400]], lexicon)
    assert max(unit.weight for unit in text_units(slots)) > 1
    rng = np.random.default_rng(7)
    secrets = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)) for _ in range(200)]
    null = text_null(slots, lexicon, secrets, np.random.default_rng(8))
    randomised, discrete = null["dedup, randomised"], null["dedup"]
    assert all(0.0 <= r <= d <= 1.0 for r, d in zip(randomised, discrete, strict=True))
    assert stats.kstest(randomised, "uniform").pvalue > 1e-3
