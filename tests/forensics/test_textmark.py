"""The text watermark: what it leaves alone, what it changes, streaming, and its detection.

Real assistant answers come from ShareGPT; the null calibration scores unwatermarked answers
under many random keys and checks the false-positive rate and the p-value distribution.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from distillguard.data.sharegpt import iter_conversations
from distillguard.forensics.detect import (
    MAX_UNIT_WEIGHT,
    TextWatermarkTest,
    WatermarkTest,
    score_accounts,
    text_slots,
    text_units,
)
from distillguard.forensics.synonyms import Lexicon
from distillguard.forensics.textmark import TextWatermarker
from distillguard.forensics.textscan import find_slots

SECRET = b"provider-secret-for-tests-000001"
PROPERTY = settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


LEXICON = Lexicon.load()


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return LEXICON


@pytest.fixture(scope="module")
def answers() -> list[str]:
    return [ex.answer for conv in iter_conversations(300) for ex in conv.exchanges()]


def keyed(lexicon: Lexicon, n: int, account: str | None = None) -> list[TextWatermarker]:
    return [
        TextWatermarker.from_secret(lexicon, f"secret-{i:04d}".encode() * 2, account)
        for i in range(n)
    ]


WATERMARKERS = keyed(LEXICON, 2) + keyed(LEXICON, 2, "account-7")

# --- what is never touched ------------------------------------------------------------------

PROSE = (
    "Sure! Here's an example. It is clear that you do not need to use it, and I am happy to "
    "help with that. For example, it is fine. Additionally, they are done. "
)
# The blank line matters: a fence not taken for one would end as a code span there.
CODE = (
    'def f():\n    return "it is what it is"  # do not use, for example\n'
    "\nit is what you do not want\n"
)
PROTECTED = [
    f"{PROSE}\n```python\n{CODE}```\n{PROSE}",
    f"{PROSE}\n~~~~\n{CODE}~~~~\n{PROSE}",
    f"{PROSE}\n  ```\n{CODE}  ```\n{PROSE}",  # an indented fence, as in a list item
    f"{PROSE}\n\n    it is indented code, for example\n    you do not change it\n\n{PROSE}",
    f"{PROSE} Run `it is for example` or ``do not ` use`` now. {PROSE}",
    f"{PROSE} See https://example.com/it-is/for/example and mail it.is@example.org. {PROSE}",
    f"{PROSE} In 2023 it is 5 it is 3.5 do not 1,000 for example x2 do not. {PROSE}",
    f'{PROSE} He said "it is, for example, what I am" and “do not use it” here. {PROSE}',
    f"{PROSE}\n````markdown\n```python\nx = 1\n```\n{CODE}````\n{PROSE}",  # nested fences
    f"{PROSE} {'a' * 64}it is what you do not want {PROSE}",  # too long to be a word
]
_FENCED = re.compile(r"^ *(````|```|~~~~)[^\n]*\n.*?^ *\1$", re.S | re.M)
_INDENTED = re.compile(r"^    .*$", re.M)
_INLINE = re.compile(r"(`+)(?:(?!\1).)*?\1")
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”')
_NUMERIC = re.compile(r"[\d=/]")


def protected_parts(text: str) -> list[str]:
    """Fenced and indented code, code spans, quotations and chunks with digits, @ or /."""
    chunks = [m.group() for m in _FENCED.finditer(text)]
    rest = _FENCED.sub("", text)
    chunks += _INDENTED.findall(rest) + [m.group() for m in _INLINE.finditer(rest)]
    chunks += _QUOTED.findall(rest)
    chunks += [w for w in rest.split() if re.search(r"[\d@/]", w) or len(w) >= 64]
    return chunks


@pytest.mark.parametrize("text", PROTECTED)
def test_code_urls_numbers_and_quotes_are_byte_identical(lexicon: Lexicon, text: str) -> None:
    protected = protected_parts(text)
    assert protected
    changed = 0
    for watermarker in keyed(lexicon, 8):
        out = watermarker.watermark(text)
        assert protected_parts(out) == protected
        changed += out != text
    assert changed >= 6  # the prose around them is rewritten (7/8 keys change something)


@settings(PROPERTY, max_examples=150)
@given(
    st.lists(st.sampled_from(["it is", "do not", "for example", "I am", "you are", " ", "\n"])),
    st.lists(st.sampled_from(["7", "3.14", "1st", "v2", "2024-01-01", "x=1", "a/b"])),
)
def test_numbers_never_change(words: list[str], numbers: list[str]) -> None:
    text = " ".join(w for pair in zip(words, numbers, strict=False) for w in pair)
    for watermarker in WATERMARKERS:
        out = watermarker.watermark(text)
        assert [w for w in out.split() if _NUMERIC.search(w)] == [
            w for w in text.split() if _NUMERIC.search(w)
        ]


# --- what is changed, and how ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        ("Well. It is clear.", {"It is", "It's"}),
        ("WARNING: IT IS LATE now", {"IT IS", "IT'S"}),
        ("Go. For Example Today.", {"For Example", "For Instance"}),  # a title at a line start
        ("so it’s true", {"it’s", "it is"}),  # typographic apostrophes stay typographic
        ("Also I am here", {"I am", "I'm"}),
    ],
)
def test_capitalisation_is_kept(lexicon: Lexicon, text: str, forms: set[str]) -> None:
    seen = set()
    for watermarker in keyed(lexicon, 16):
        out = watermarker.watermark(text)
        found = [form for form in forms if form in out]
        assert len(found) == 1, out
        seen.add(found[0])
    assert seen == forms  # both directions happen under some key


def test_capitalised_words_mid_sentence_are_names_and_stay(lexicon: Lexicon) -> None:
    text = "We met on For Example Street and It Is Done was playing"
    assert all(w.watermark(text) == text for w in keyed(lexicon, 16))


def test_contractions_need_a_following_word(lexicon: Lexicon) -> None:
    # "Yes, it is." must not become "Yes, it's."; "it's been" is "it has been".
    for text in ("Yes, it is.", "I know what it is", "It's been a while", "That's been fixed"):
        assert all(w.watermark(text) == text for w in keyed(lexicon, 16))


def test_watermarking_is_idempotent(lexicon: Lexicon, answers: list[str]) -> None:
    for watermarker in keyed(lexicon, 2) + keyed(lexicon, 1, "acct"):
        for answer in answers[:150]:
            once = watermarker.watermark(answer)
            assert watermarker.watermark(once) == once


def test_different_keys_write_different_text(lexicon: Lexicon, answers: list[str]) -> None:
    first, second = keyed(lexicon, 2)
    sample = answers[:100]
    differs = sum(first.watermark(a) != second.watermark(a) for a in sample)
    assert differs >= 50
    account = TextWatermarker.from_secret(lexicon, SECRET, "a")
    other = TextWatermarker.from_secret(lexicon, SECRET, "b")
    assert sum(account.watermark(a) != other.watermark(a) for a in sample) >= 40


# --- streaming ------------------------------------------------------------------------------

_MEMBERS = sorted({m for entry in LEXICON.sets for m in entry.members})
_words = st.sampled_from(_MEMBERS).flatmap(
    lambda m: st.sampled_from([m, m.capitalize(), m.upper(), m.title(), m.replace("'", "’")])
)
_other = st.sampled_from(
    ["the", "a", "thank", "not", "been", "to", "with", "if", "of", "naïve", "日本語", "é",
     "x1", "42", "http://a.b/c", "e.g.", "a@b.c", "🙂", "x" * 70]
)  # fmt: skip
_separators = st.sampled_from(
    [" ", " ", " ", "  ", ", ", ". ", "! ", "\n", "\n\n", "\n    ", "\t", '"', "“", "”", "`",
     "``", "```", "~~~", "\n```\n", "\n~~~~\n", "\n```py\n", "(", ")", "**", "’", "—", "\r\n"]
)  # fmt: skip
TEXTS = st.lists(st.one_of(_words, _words, _other, _separators), max_size=50).map(" ".join)


@PROPERTY
@given(TEXTS, st.data(), st.integers(0, len(WATERMARKERS) - 1))
def test_streaming_equals_one_shot_for_any_chunking(text: str, data: st.DataObject, k: int) -> None:
    watermarker = WATERMARKERS[k]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    stream = watermarker.stream()
    pieces, start = [], 0
    for cut in [*cuts, len(text)]:
        pieces.append(stream.feed(text[start:cut]))
        start = cut
    pieces.append(stream.flush())
    once = watermarker.watermark(text)
    assert "".join(pieces) == once
    assert watermarker.watermark(once) == once  # idempotent on adversarial mixes too


def test_streaming_real_answers_char_by_char_holds_little(answers: list[str]) -> None:
    watermarker = WATERMARKERS[2]
    most_held = 0
    for answer in answers[:40]:
        stream = watermarker.stream()
        out = []
        for char in answer:
            out.append(stream.feed(char))
            most_held = max(most_held, stream.held)
        out.append(stream.flush())
        assert "".join(out) == watermarker.watermark(answer)
    assert most_held <= 6 * 65  # at most a phrase and the word after it, never a paragraph


# --- detection ------------------------------------------------------------------------------


def _corpus(answers: list[str], words: int) -> list[str]:
    out, total = [], 0
    for answer in answers:
        out.append(answer)
        total += len(answer.split())
        if total >= words:
            return out
    raise AssertionError("not enough text")


def test_watermarked_answers_are_detected(lexicon: Lexicon, answers: list[str]) -> None:
    corpus = _corpus(answers[200:], 5000)
    marked = [TextWatermarker.from_secret(lexicon, SECRET).watermark(a) for a in corpus]
    test: WatermarkTest[str] = TextWatermarkTest(lexicon, SECRET)
    evidence = test.score(marked)
    assert evidence.p_value < 1e-6
    assert evidence.n_green > evidence.expected_green
    assert evidence.scheme == "text"
    assert TextWatermarkTest(lexicon, SECRET).score(corpus).p_value > 1e-3
    # Under account keys the provider layer still fires, and so does the account's own key.
    by_account = [
        TextWatermarker.from_secret(lexicon, SECRET, "acct-9").watermark(a) for a in corpus
    ]
    assert TextWatermarkTest(lexicon, SECRET).score(by_account).p_value < 1e-6
    assert TextWatermarkTest(lexicon, SECRET, "acct-9").score(by_account).p_value < 1e-6
    assert TextWatermarkTest(lexicon, SECRET, "acct-8").score(by_account).p_value > 1e-3
    assert TextWatermarkTest(lexicon, b"another-provider-secret").score(marked).p_value > 1e-3


def test_layer_all_doubles_the_evidence_without_account_keys(
    lexicon: Lexicon, answers: list[str]
) -> None:
    marked = [TextWatermarker.from_secret(lexicon, SECRET).watermark(a) for a in answers[:60]]
    provider = TextWatermarkTest(lexicon, SECRET).score(marked)
    every = TextWatermarkTest(lexicon, SECRET, layer="all").score(marked)
    assert 1.6 < every.n_scored / provider.n_scored < 2.4
    assert every.p_value < provider.p_value


def test_units_are_deduplicated_on_context_and_set(lexicon: Lexicon) -> None:
    text = "Yes and it is fine. " * 50
    assert len(find_slots(text, lexicon)) == 50
    evidence = TextWatermarkTest(lexicon, SECRET, layer="all").score([text, text])
    assert evidence.n_scored == MAX_UNIT_WEIGHT  # one unit, its weight capped
    (unit,) = text_units(text_slots([text], lexicon))
    assert unit.weight == MAX_UNIT_WEIGHT


def test_a_repeated_unit_votes_for_its_most_used_member(lexicon: Lexicon) -> None:
    full, short = "Yes and it is fine.", "Yes and it's fine."
    (voted,) = text_units(text_slots([full, short, short], lexicon))
    assert (voted.index, voted.weight) == (_index(lexicon, "it's"), 3)  # 2 votes of 3
    (tied,) = text_units(text_slots([full, short], lexicon))
    assert (tied.index, tied.weight) == (_index(lexicon, "it is"), 2)  # a tie: first seen
    (unvoted,) = text_units(text_slots([full, short, short], lexicon), vote=False)
    assert (unvoted.index, unvoted.weight) == (_index(lexicon, "it is"), 1)


def _index(lexicon: Lexicon, member: str) -> int:
    (entry,) = (e for e in lexicon.sets if member in e.members)
    return entry.members.index(member)


@pytest.mark.slow
def test_null_is_calibrated_on_real_answers(lexicon: Lexicon, answers: list[str]) -> None:
    units = text_units(text_slots(answers, lexicon))  # ~1000 clean answers, scanned once
    rng = random.Random(20240611)
    p_values = []
    for i in range(240):
        secret = rng.randbytes(32)
        account = f"account-{i}" if i % 2 else None  # provider and account layers alike
        p_values.append(TextWatermarkTest(lexicon, secret, account).score_units(units).p_value)
    false_positives = sum(p <= 0.01 for p in p_values)
    assert false_positives <= stats.binom.ppf(0.999, len(p_values), 0.01)
    assert stats.kstest(p_values, "uniform").pvalue > 1e-3


def test_tracing_names_exactly_the_leaking_accounts(lexicon: Lexicon, answers: list[str]) -> None:
    accounts = [f"acct-{i:02d}" for i in range(50)]
    leakers = ["acct-07", "acct-21", "acct-44"]
    texts = []
    for n, account in enumerate(leakers):
        watermarker = TextWatermarker.from_secret(lexicon, SECRET, account)
        texts += [watermarker.watermark(a) for a in answers[n * 80 : (n + 1) * 80]]
    findings = score_accounts(texts, lexicon, SECRET, accounts, alpha=0.01)
    assert {f.account_id for f in findings if f.named} == set(leakers)
    assert {f.account_id for f in findings[:3]} == set(leakers)  # ranked first
    assert all(f.adjusted_p >= f.evidence.p_value for f in findings)
    # Unwatermarked text names nobody.
    clean = score_accounts(answers[300:500], lexicon, SECRET, accounts, alpha=0.01)
    assert not any(f.named for f in clean)


# --- the lexicon's safety checks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "error"),
    [
        ([{"members": ["it is", "it's"]}, {"members": ["it", "this"]}], "prefix"),
        ([{"members": ["do not", "don't"]}, {"members": ["don't", "never"]}], "two sets"),
        ([{"members": ["thank you", "thanks"]}, {"members": ["you are", "you're"]}], "inside"),
        (
            [
                {"members": ["happy", "glad"], "only_before": ["to"]},
                {"members": ["to summarize", "overall"]},
            ],
            "word list",
        ),
        ([{"members": ["it is"]}], "two or more"),
        ([{"members": ["x1", "y"]}], "words"),
    ],
)
def test_lexicon_refuses_sets_that_could_change_the_parse(
    sets: list[dict[str, object]], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        Lexicon.from_mapping({"sets": sets})


@pytest.mark.parametrize(
    "text",
    [
        "He used to live here, so I used up the rest.",  # a habit, not "utilized to"
        "How many people came? So many did.",  # not "how numerous"
        "Call me if you need help.",  # a condition, not "whether"
        "The benefits package is generous.",  # an employee's benefits
        "We found a statistically significant difference.",
        "Compute the specific heat of water.",
        "This has to do with the need to save.",  # neither is an obligation
        "It isn't nearly as fast.",  # "almost as fast" would flip the meaning
        "Schools can provide students with laptops.",  # not "offer students with"
        "Backups matter for ensuring the integrity of data.",  # not "making sure the"
        "Ensure your code is tested.",  # not "make sure your code"
        # Found in review: each of these once read wrong after a rewrite.
        "Why isn't Python finding my module?",  # not "Why is not Python"
        "There isn't a lot of research on it.",  # not "isn't lots of"
        "All the best with your project!",  # not "all of the best"
        "Add them as required by law.",  # not "as needed by law"
        "Plans starting at ten dollars.",  # not "beginning at"
        "Follow along with the tutorial.",  # not "follow together with"
        "We sell used cars.",  # not "utilized cars"
        "Exercise regularly and sleep well.",  # not "periodically"
        "Show me the output.",  # not "demonstrate me"
    ],
)
def test_conditioned_sets_leave_other_senses_alone(lexicon: Lexicon, text: str) -> None:
    assert all(w.watermark(text) == text for w in keyed(lexicon, 16))


def test_packaged_lexicon(lexicon: Lexicon) -> None:
    assert len(lexicon.sets) >= 145
    keys = [entry.key for entry in lexicon.sets]
    assert len(set(keys)) == len(keys)
    # A set's identity does not depend on member order (old watermarks stay detectable).
    reordered = Lexicon.from_mapping({"sets": [{"members": ["for instance", "for example"]}]})
    assert reordered.sets[0].key in keys
