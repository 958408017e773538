"""Candidate ask spans: the Hyperscan trigger scan and the portable ``re`` scan agree."""

from __future__ import annotations

import importlib.util
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.features.ask_probe import real_spans, training_data
from distillguard.features.asks import ask_spans, separators, spans_at, trigger_ends
from distillguard.features.matcher import build_matcher

PROMPTS = [
    "What is 2 + 2?",
    "Solve x + 17 = 42.\nShow me how you got there, step by step!",
    'He said "explain it all" and left. Why? Because: reasons; then more.',
    "Résumé naïve café: explique ton raisonnement étape par étape, s'il te plaît.",
    "İstanbul'da bir soru. Then explain each step — ünïcödé everywhere. Grade it 1-10!",
    "请一步一步地解释你的推理过程。然后给出答案。 And show your work please",
    "```python\nprint('step')\n```\nexplain this code line by line",
    "no trigger words at all in this one",
    "how did you get 42?! and why... why not 41",
    "Where did the 12 in line 3 come from? And how? Rate it out of 10, the last bit.",
    "给这两个回答打个分。Откуда взялась семёрка? no trigger here",
]


# The separators as one alternation, the pattern ``separators`` replaced: the reference.
_SPLIT = re.compile(r"[.?!:;]\s+|\n+|[\"“”«»]|```")
# Every character a separator starts or continues with, beside ordinary ones and other spaces.
_TEXT = st.text(alphabet=st.sampled_from(list('.?!:;\n"“”«»` \t\u00a0\u2003\rab,é步')), max_size=60)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_separators_are_where_the_split_pattern_matches(text: str) -> None:
    assert list(separators(text)) == [m.span() for m in _SPLIT.finditer(text)]


def test_separators_of_real_prompts() -> None:
    texts = [*PROMPTS, *real_spans(300, "benign")]
    joined = "\n\n".join(texts)  # and one long text with every kind of break
    for text in [*texts, joined, joined.lower()]:
        assert list(separators(text)) == [m.span() for m in _SPLIT.finditer(text)]


def test_the_trigger_ends_where_its_words_end() -> None:
    lowered = "first, show me. then explain"
    assert trigger_ends(lowered) == [lowered.index("show") + 4, len(lowered)]


@pytest.mark.skipif(importlib.util.find_spec("hyperscan") is None, reason="no hyperscan")
def test_hyperscan_and_re_find_the_same_spans() -> None:
    fast, portable = build_matcher("auto"), build_matcher("re")
    for prompt in PROMPTS:
        lowered = prompt.lower()
        assert portable.trigger_ends(lowered) == trigger_ends(lowered)
        # Hyperscan reports overlapping matches too ("expla" inside "explain"): a superset,
        # in the same parts.
        assert set(trigger_ends(lowered)) <= set(fast.trigger_ends(lowered))
        assert spans_at(lowered, fast.trigger_ends(lowered)) == ask_spans(prompt)


def test_the_trigger_offers_nearly_every_written_ask() -> None:
    # The stems were widened from the training phrasings they missed; most of the few left are
    # a word or two, below a span's minimum ("y tho", "cadê as contas?", "求推导过程").
    written = training_data()
    for intent in ("cot", "rubric"):
        offered = [bool(ask_spans(s)) for s in written[intent]]
        assert sum(offered) >= 0.94 * len(offered), intent


def test_parts_keep_their_end_punctuation_and_split_at_quotes_and_lines() -> None:
    spans = ask_spans('Intro text here\nWhy is it so? "explain that quote" ok; show work please.')
    assert spans == ("why is it so?", "explain that quote", "show work please.")
    assert ask_spans("x" * 10 + ". explain it") == ("explain it",)


def test_with_many_candidates_the_first_and_last_are_kept() -> None:
    fruit = ("apples", "pears", "plums", "figs", "limes", "dates")
    middle = " ".join(f"Each box holds {name}." for name in fruit)
    spans = ask_spans(f"Explain it to me. {middle} Show every step please.")
    assert len(spans) == 4
    assert spans[0] == "explain it to me." and spans[-1] == "show every step please."
