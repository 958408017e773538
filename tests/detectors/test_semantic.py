"""The semantic detector: asks for the reasoning counted by meaning, on a sample, once per
wording. Runs the real all-MiniLM-L6-v2 (numpy) encoder."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import cast

import pytest

from distillguard.detectors.semantic import (
    MAX_EXAMINED,
    MAX_EXAMINED_UNDECIDED,
    SCREENED_ASKS,
    START_AT,
    SemanticDetector,
    share_floor,
    shared_spotter,
)
from distillguard.events import Event
from distillguard.features.asks import ask_spans
from distillguard.features.matcher import build_matcher
from distillguard.features.request import extract
from distillguard.features.semantic import IntentSpotter
from distillguard.population import Population

pytestmark = pytest.mark.skipif(shared_spotter() is None, reason="model package absent")

MATCHER = build_matcher()
QUESTIONS = [
    "A train leaves at {n} km/h and another at {m} km/h; when do they meet?",
    "Why does my Python loop over {n} items run slowly?",
    "What is the derivative of x^{n} + {m}x?",
    "Is {n} a prime number?",
]
# Ways of asking for the reasoning that are in no prototype and in no lexicon family.
SOFT_ASKS = [
    "Could you make clear how you got from the question to that number?",
    "Mind talking through what you did at each point?",
    "I'd like to follow your thinking, not just see the result.",
    "Go slowly and tell me what you considered along the way.",
    "Please lay bare the chain of steps that gets you there.",
    "What was going on in your head at every stage of this?",
]


def wording(i: int) -> str:
    """Two letters, new for each i < 676: a new wording each time (digits are masked)."""
    return chr(97 + i % 26) + chr(97 + i // 26)


def event(i: int, text: str, account: str) -> Event:
    return {
        "ts": 1_770_000_000 + 600 * i,
        "account_id": account,
        "ip": "203.0.113.9",
        "request": {"model": "m", "messages": [{"role": "user", "content": text}]},
    }


def run(texts: list[str]) -> tuple[float, str]:
    detector = SemanticDetector()
    state, pop = detector.initial(), Population()
    for i, text in enumerate(texts):
        detector.update(state, extract(event(i, text, "a"), MATCHER), pop)
    return detector.value(state, pop), detector.explain(state, pop)


def question(rng: random.Random) -> str:
    return rng.choice(QUESTIONS).format(n=rng.randrange(2, 99), m=rng.randrange(2, 99))


def test_varied_soft_asks_add_up() -> None:
    rng = random.Random(1)
    tails = ("please", "if you can", "for this one", "thanks")
    # A careful distiller never repeats itself: every ask is worded a little differently.
    asks = [f"{ask[:-1]} {tail}{ask[-1]}" for tail in tails for ask in SOFT_ASKS]
    texts = [f"{question(rng)}\n{asks[i % len(asks)]}" for i in range(40)]
    value, reason = run(texts)
    assert value > 0.5, reason
    assert "asks for the reasoning" in reason


def test_plain_questions_and_one_pasted_phrase_do_not() -> None:
    rng = random.Random(2)
    plain, _ = run([question(rng) for _ in range(40)])
    assert plain == 0.0
    # An eval harness: the same "let's think step by step" on every item is one ask.
    harness, reason = run([f"{question(rng)}\nLet's think step by step." for _ in range(40)])
    assert harness < 0.2, reason


def test_nothing_before_the_sample_starts() -> None:
    texts = [f"Is {n} prime? {SOFT_ASKS[n % 6]}" for n in range(START_AT - 1)]
    assert run(texts) == (0.0, "no requests sampled yet")


def test_candidate_spans_are_short_normalised_and_few() -> None:
    assert ask_spans("What is 2 + 2?") == ()
    spans = ask_spans("Solve x + 17 = 42.\nShow me how you got there, step by step!")
    assert spans == ("show me how you got there, step by step!",) or spans[-1].startswith("show")
    long_prose = "explain " + "word " * 60
    assert ask_spans(long_prose) == ()  # a paragraph is content, not an ask
    many = "\n".join(f"explain part {i} please" for i in range(10))
    assert len(ask_spans(many)) <= 4
    assert ask_spans("Explain step 12 again") == ask_spans("explain   step 7 again")


class _Spotter:
    """Reads a span as an ask for the reasoning when it says "ask" (isolates the sampling)."""

    intents = ("cot", "rubric")
    threshold = 0.0

    def __init__(self) -> None:
        self.screened: list[bool] = []
        self.asks_before: list[int] = []  # per call: the asks read in earlier calls
        self.asks = 0

    def similarities(self, spans: Sequence[str], *, screen: bool) -> list[tuple[float, ...]]:
        self.screened.append(screen)
        self.asks_before.append(self.asks)
        self.asks += sum("ask" in s for s in spans)
        return [(1.0, -1.0) if "ask" in s else (-1.0, -1.0) for s in spans]


@pytest.mark.parametrize(
    ("every", "examined"),
    [
        (0, MAX_EXAMINED),
        (20, MAX_EXAMINED),
        (12, MAX_EXAMINED_UNDECIDED),
        (8, MAX_EXAMINED_UNDECIDED),
    ],
)
def test_an_undecided_account_is_sampled_on(every: int, examined: int) -> None:
    spotter = _Spotter()
    detector = SemanticDetector(cast(IntentSpotter, spotter))
    state, pop = detector.initial(), Population()
    for i in range(120):
        asks = every and i % every == 0
        tag = wording(i)
        text = f"explain the ask {tag} please" if asks else f"explain item {i} in a few words"
        detector.update(state, extract(event(i, text, "a"), MATCHER), pop)
    # One request in eight asks: 1/8 is short of a flag, and it is sampled on, as is one in
    # twelve (at least CONTINUE_SHARE, 6%); one in twenty (5%) is let go at MAX_EXAMINED.
    assert state.examined == examined
    # The prefilter screens an account's spans until its SCREENED_ASKS-th ask, not after (each
    # ask here is new-worded, in a conversation of its own, so every one counts).
    assert spotter.screened == [n < SCREENED_ASKS for n in spotter.asks_before]
    assert any(spotter.screened) and (not all(spotter.screened)) == (every in (8, 12))


def sampled(every: int, requests: int) -> tuple[float, str]:
    """The isolated sampling fed ``requests`` prompts, one in ``every`` a new-worded ask."""
    detector = SemanticDetector(cast(IntentSpotter, _Spotter()))
    state, pop = detector.initial(), Population()
    for i in range(requests):
        tag = wording(i)
        text = f"explain the ask {tag} please" if i % every == 0 else f"explain item {i} now"
        detector.update(state, extract(event(i, text, "a"), MATCHER), pop)
    return detector.value(state, pop), detector.explain(state, pop)


def test_the_same_share_weighs_more_on_a_larger_sample() -> None:
    # One ask in six: over 20 sampled requests it could be a person's lucky streak, over 30
    # and 50 it is steady; the value grows with the sample although the share does not.
    short, reason = sampled(6, START_AT - 1 + 20)
    longer, _ = sampled(6, START_AT - 1 + 30)
    assert "15% of 20 sampled requests, one per conversation (at least 9%" in reason
    assert 0.0 < short < longer < 1.0
    assert sampled(6, START_AT - 1 + 50)[0] == 1.0


def conversation(turns: int, asks: bool) -> list[Event]:
    """One chat of ``turns`` user turns, each follow-up asking (in new words) or not."""
    out: list[Event] = []
    messages: list[dict[str, str]] = []
    for t in range(turns):
        tag = wording(t)
        text = f"explain the ask {tag} please" if asks and t else f"explain item {t} now"
        messages = [*messages, {"role": "user", "content": text}]
        e = event(t, "", "a")
        e["request"]["messages"] = list(messages)
        out.append(e)
        messages.append({"role": "assistant", "content": "an answer"})
    return out


def test_one_conversation_counts_one_ask() -> None:
    # A person asking "why is option c correct?" through one quiz: every follow-up asks, in
    # new words, but it is one conversation and one ask; the same asks opening conversations
    # of their own are many.
    detector = SemanticDetector(cast(IntentSpotter, _Spotter()))
    state, pop = detector.initial(), Population()
    for e in conversation(START_AT - 1 + 30, asks=True):
        detector.update(state, extract(e, MATCHER), pop)
    assert state.hits == {"cot": 1}
    assert state.examined == MAX_EXAMINED  # one ask in 24 is let go
    assert detector.value(state, pop) == 0.0
    apart, _ = sampled(1, START_AT - 1 + 30)
    assert apart == 1.0


def test_share_floor() -> None:
    assert share_floor(0, 10) == 0.0
    assert share_floor(10, 10) == 1.0  # no spread when every request asks
    assert share_floor(5, 20) < share_floor(50, 200) < 0.25
    assert share_floor(1, 0) == 0.0


@pytest.mark.parametrize("opening", ["what is {n} + 5?", ""])
def test_conversations_that_open_alike_are_still_apart(opening: str) -> None:
    # Task prompts that differ in a number are different conversations (a weak hash merged
    # "what is 141 + 5?" with "what is 222 + 5?"), and conversations opened by an image alone
    # (no text to tell them apart) are not one conversation either.
    detector = SemanticDetector(cast(IntentSpotter, _Spotter()))
    state, pop = detector.initial(), Population()
    # 120 and 201, 121 and 202, ...: the pairs whose prompts that weak hash merged
    numbers = [900 + i for i in range(START_AT - 1)] + [*range(120, 132), *range(201, 213)]
    for i, n in enumerate(numbers):
        tag = wording(i)
        first = opening.format(n=n) if opening else [{"type": "image_url", "image_url": {}}]
        e = event(i, "", "a")
        e["request"]["messages"] = [
            {"role": "user", "content": first},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": f"explain the ask {tag} please"},
        ]
        detector.update(state, extract(e, MATCHER), pop)
    assert state.examined == 24
    assert state.hits == {"cot": 24}


def test_a_shared_preamble_does_not_make_one_conversation() -> None:
    # Every request opens with the same fixed exchange (a few-shot example), then a new task
    # that asks: the first user message is the same, but no request continues another (none
    # carries more messages than the last), so each ask counts. A real conversation grows.
    detector = SemanticDetector(cast(IntentSpotter, _Spotter()))
    state, pop = detector.initial(), Population()
    for i in range(START_AT - 1 + 30):
        e = event(i, "", "a")
        e["request"]["messages"] = [
            {"role": "user", "content": "Example: what is 2 + 2? Show your steps."},
            {"role": "assistant", "content": "Step 1: 2 + 2 = 4. Answer: 4."},
            {"role": "user", "content": f"explain the ask {wording(i)} please"},
        ]
        detector.update(state, extract(e, MATCHER), pop)
    assert state.examined == 24 and state.hits == {"cot": 24}
    assert detector.value(state, pop) == 1.0
    assert len(state.threads["cot"]) == 1  # one opening, asked from again and again
