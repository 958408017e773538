from __future__ import annotations

import pytest

from distillguard.data.sharegpt import (
    Conversation,
    Turn,
    estimate_tokens,
    iter_conversations,
    load_conversations,
    truncate_to_tokens,
)

ROLES = {"user", "assistant", "system"}


def test_limit_returns_that_many_whole_conversations_with_mapped_roles() -> None:
    conversations = load_conversations(50)

    assert len(conversations) == 50
    for conversation in conversations:
        assert conversation.id
        assert {turn.role for turn in conversation.turns} <= ROLES
        assert all(turn.text.strip() for turn in conversation.turns)
        assert conversation.first_user_text
    assert conversations[0].id == "QWJhYvA_0"
    assert conversations[0].turns[0] == Turn("user", conversations[0].first_user_text)
    assert any(
        exchange.answer for conversation in conversations for exchange in conversation.exchanges()
    )


def test_skip_continues_where_limit_stopped() -> None:
    first_ten = load_conversations(10)

    assert load_conversations(4, skip=6) == first_ten[6:]
    assert [c.id for c in iter_conversations(3, skip=2)] == [c.id for c in first_ten[2:5]]


def test_zero_limit_and_bad_arguments() -> None:
    assert load_conversations(0) == []
    with pytest.raises(ValueError):
        load_conversations(-1)
    with pytest.raises(ValueError):
        load_conversations(1, skip=-1)


def test_exchanges_pair_each_user_turn_with_the_reply_that_followed() -> None:
    conversation = Conversation(
        id="x",
        turns=(
            Turn("assistant", "orphan reply"),
            Turn("user", "q1"),
            Turn("assistant", "a1"),
            Turn("user", "q2"),
            Turn("user", "q3"),
            Turn("assistant", "a3"),
        ),
    )

    assert [(e.prompt, e.answer) for e in conversation.exchanges()] == [("q1", "a1"), ("q3", "a3")]
    assert conversation.first_user_text == "q1"


@pytest.mark.slow
def test_reading_to_the_end_stops_cleanly_at_the_truncation() -> None:
    count = 0
    last: Conversation | None = None
    for conversation in iter_conversations():
        count += 1
        last = conversation

    assert count > 17_000
    assert last is not None and last.turns


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("日本", 2)],
)
def test_estimate_tokens_values(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_estimate_tokens_properties() -> None:
    samples = ["hello", "hello world, this is a sentence.", "naïve café", "🙂" * 3, "a b\nc"]
    for text in samples:
        assert estimate_tokens(text) >= 1
        assert estimate_tokens(text + text) >= estimate_tokens(text)
        assert estimate_tokens(text * 2) <= 2 * estimate_tokens(text)
    english = "The quick brown fox jumps over the lazy dog. " * 20
    assert len(english) / 5 < estimate_tokens(english) < len(english) / 3


def test_truncate_to_tokens_is_the_inverse_of_the_estimate() -> None:
    for text in ["x" * 103, "日本語のテキスト" * 10, "mixed é 🙂 text " * 7]:
        for limit in (1, 2, 5, 17):
            cut = truncate_to_tokens(text, limit)
            assert text.startswith(cut)
            assert estimate_tokens(cut) <= limit
    assert truncate_to_tokens("short", 100) == "short"
