from __future__ import annotations

import pickle
from dataclasses import fields

from distillguard.features.matcher import build_matcher
from distillguard.features.request import TextCache, extract, network_of, text_features

MATCHER = build_matcher()


def test_text_cache_stays_correct_across_evictions() -> None:
    cache = TextCache(size=4)
    texts = [f"prompt number {w} about something else entirely" for w in "abcdefghij"]
    for text in texts * 2:
        assert cache.get(text, MATCHER) == text_features(text, MATCHER)


def test_odd_account_metadata_means_unknown_not_an_error() -> None:
    event = {
        "ts": 1_770_000_000,
        "account_id": "a",
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "account_meta": {"created_at": "2024-01-01", "payment_fingerprint": 5},
    }
    f = extract(event, MATCHER)
    assert f.created_at is None and f.payment is None
    event["account_meta"] = "not an object"
    assert extract(event, MATCHER).payment is None


def test_networks() -> None:
    assert network_of("198.51.100.77") == "198.51.100.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("unknown") == "unknown"


def test_cached_extraction_equals_uncached_down_to_the_sign_of_zero() -> None:
    """The parameter-signature cache must not merge 0.0 and -0.0 (they print differently)."""
    cache = TextCache(size=4)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "tool", "content": "{}"},
        "not a message",
        {"role": "user", "content": "and a follow-up, step by step"},
    ]
    signatures = set()
    for temperature in (0.0, -0.0, 0, 0.7, None, 0.0, -0.0):
        event = {
            "ts": 1_770_000_000,
            "account_id": "a",
            "request": {"messages": messages, "temperature": temperature, "logprobs": True},
        }
        cached, plain = extract(event, MATCHER, cache), extract(event, MATCHER)
        assert cached == plain
        assert cached.has_history and cached.tool_results and cached.system_hash
        signatures.add(cached.param_signature)
    assert len(signatures) == 4  # 0.0 (and 0), -0.0, 0.7, None


def test_the_requests_of_one_conversation_share_a_thread() -> None:
    def features(*turns: object) -> tuple[int, int]:
        messages: list[dict[str, object]] = []
        for i, content in enumerate(turns):
            if i:
                messages.append({"role": "assistant", "content": f"answer {i}"})
            messages.append({"role": "user", "content": content})
        f = extract({"ts": 1_770_000_000, "account_id": "a", "request": {"messages": messages}},
                    MATCHER)  # fmt: skip
        return f.thread_hash, f.prompt_hash

    opening = "  Why is the sky BLUE?"
    first, first_prompt = features(opening)
    assert first == first_prompt  # a conversation's first request: its prompt is the thread
    follow, follow_prompt = features(opening, "Why is option c correct?")
    parts, _ = features([{"type": "text", "text": "why is the sky blue?"}], "and at dusk?")
    assert follow == parts == first != follow_prompt
    other, _ = features("Why is grass green?", "Why is option c correct?")
    assert other != first
    assert features()[0] == features("")[0]  # no user message at all: one (empty) thread


def test_features_travel_between_processes_whole() -> None:
    # ``analyze --workers`` pickles every event's features in a worker and reads them back.
    event = {
        "ts": 1_770_000_000.5,
        "account_id": "acct",
        "ip": "2001:db8::7",
        "request": {
            "messages": [{"role": "user", "content": "Explain step 3, in detail."}],
            "temperature": -0.0,
            "logprobs": True,
            "top_logprobs": 5,
        },
        "response": {"status": 200, "completion_tokens": 12},
        "account_meta": {"payment_fingerprint": "pm_1", "signup_channel": "edu"},
    }
    f = extract(event, MATCHER)
    back = pickle.loads(pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 (our own bytes)
    assert back == f and back is not f
    assert [getattr(back, n.name) for n in fields(f)] == [getattr(f, n.name) for n in fields(f)]
    assert back.ask_spans and back.payment == "pm_1" and back.ip_prefix == "2001:db8::/48"
