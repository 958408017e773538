"""Degrade lowers training value (reasoning, logprobs, n, length) and never changes the answer.

The streaming property test is the contract the gateway relies on: whatever the interleaving of
choices, reasoning and content in a stream, the degraded stream carries the same ``content``
per choice, and reasoning is gone or present exactly once, as a summary, before the answer.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.countermeasures.degrade import (
    REASONING_FIELDS,
    SUMMARY_PREFIX,
    DegradeOptions,
    StreamDegrader,
    degrade_request,
    degrade_response,
    summarise_reasoning,
)
from distillguard.data.sharegpt import Conversation, Turn
from distillguard.tokens import estimate_tokens
from distillguard.upstream.replay import REASONING_MODEL, ReplaySettings, create_replay_app

STRIP = DegradeOptions(max_tokens_cap=1024)
SUMMARY = DegradeOptions(reasoning_summary=True)
NOTHING = DegradeOptions(
    strip_reasoning=False, drop_logprobs=False, force_n1=False, max_tokens_cap=None
)
PROPERTY = settings(max_examples=300, deadline=None, database=None)

REASONING = (
    "The user wants the capital of France. Paris has been the capital since the middle ages. "
    "Lyon and Marseille are large but not capitals.\nSo the answer is Paris."
)


# --- options -----------------------------------------------------------------------------------


def test_options_are_documented_strict_and_frozen() -> None:
    for name, field in DegradeOptions.model_fields.items():
        assert field.description, f"{name} needs a docstring: it is documented policy config"
    with pytest.raises(pydantic.ValidationError):
        DegradeOptions.model_validate({"strip_reasonning": True})
    with pytest.raises(pydantic.ValidationError):
        DegradeOptions(strip_reasoning=False, reasoning_summary=True)
    with pytest.raises(pydantic.ValidationError):
        DegradeOptions(summary_chars=10)
    with pytest.raises(pydantic.ValidationError):
        STRIP.strip_reasoning = False


# --- requests ----------------------------------------------------------------------------------


def test_request_is_degraded_into_a_copy_with_its_changes_listed() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "logprobs": True,
        "top_logprobs": 5,
        "n": 4,
        "max_tokens": 4096,
        "stream_options": {"include_usage": True},
    }
    before = copy.deepcopy(body)

    out, changes = degrade_request(body, STRIP)

    assert body == before
    assert out == {
        "model": "m",
        "messages": body["messages"],
        "n": 1,
        "max_tokens": 1024,
        "stream_options": {"include_usage": True},
    }
    assert changes == [
        "logprobs removed",
        "top_logprobs removed (was 5)",
        "n lowered from 4 to 1",
        "max_tokens lowered from 4096 to 1024",
    ]


def test_length_caps_only_lower_and_fill_in_when_absent() -> None:
    opts = DegradeOptions(max_tokens_cap=100)
    base: dict[str, Any] = {"model": "m", "messages": []}

    low, low_changes = degrade_request({**base, "max_tokens": 10}, opts)
    both, both_changes = degrade_request(
        {**base, "max_tokens": 500, "max_completion_tokens": 50}, opts
    )
    absent, absent_changes = degrade_request(base, opts)
    nulls, _ = degrade_request({**base, "max_tokens": None}, opts)
    uncapped, uncapped_changes = degrade_request({**base, "max_tokens": 10**6}, NOTHING)

    assert low["max_tokens"] == 10 and low_changes == []
    assert both["max_tokens"] == 100 and both["max_completion_tokens"] == 50
    assert both_changes == ["max_tokens lowered from 500 to 100"]
    assert absent["max_completion_tokens"] == 100 and "max_tokens" not in absent
    assert absent_changes == ["max_completion_tokens set to 100 (was unset)"]
    assert nulls["max_completion_tokens"] == 100
    assert uncapped["max_tokens"] == 10**6 and uncapped_changes == []


def test_request_without_anything_to_degrade_lists_no_change() -> None:
    body = {"model": "m", "messages": [], "n": 1, "logprobs": False, "max_tokens": 5}

    out, changes = degrade_request(body, STRIP)
    same, none = degrade_request({**body, "n": 3, "logprobs": True, "top_logprobs": 2}, NOTHING)

    assert changes == []
    assert out == {"model": "m", "messages": [], "n": 1, "max_tokens": 5}
    assert none == [] and same["n"] == 3 and same["top_logprobs"] == 2


# --- non-streamed responses ------------------------------------------------------------------


def _completion(message: dict[str, Any], *, logprobs: Any = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "stop", "logprobs": logprobs}
        ],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 90,
            "total_tokens": 93,
            "completion_tokens_details": {"reasoning_tokens": 80, "audio_tokens": 0},
        },
    }


def test_response_strip_removes_reasoning_and_logprobs_and_keeps_content() -> None:
    content = "The capital of France is **Paris**.\n\n  "
    logprobs = {"content": [{"token": "The", "logprob": -0.1}], "refusal": None}
    body = _completion(
        {"role": "assistant", "content": content, "reasoning_content": REASONING},
        logprobs=logprobs,
    )
    body["choices"].append(
        {
            "index": 1,
            "message": {"role": "assistant", "content": "Paris.", "reasoning": "Short one."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    )
    before = copy.deepcopy(body)

    out = degrade_response(body, STRIP)

    assert body == before
    first, second = out["choices"]
    assert first["message"] == {"role": "assistant", "content": content}
    assert first["message"]["content"] is content
    assert first["logprobs"] is None
    assert second["message"] == {"role": "assistant", "content": "Paris."}
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0, "audio_tokens": 0}
    assert out["usage"]["completion_tokens"] == 90  # billing is not rewritten
    assert {k: v for k, v in out.items() if k not in ("choices", "usage")} == {
        k: v for k, v in body.items() if k not in ("choices", "usage")
    }


@pytest.mark.parametrize("field", REASONING_FIELDS)
def test_response_summary_replaces_reasoning_in_the_same_field(field: str) -> None:
    body = _completion({"role": "assistant", "content": "Paris.", field: REASONING})

    out = degrade_response(body, SUMMARY)

    message = out["choices"][0]["message"]
    summary = message[field]
    assert set(message) == {"role", "content", field}
    assert summary == summarise_reasoning(REASONING, SUMMARY.summary_chars)
    assert summary.startswith(SUMMARY_PREFIX) and summary.endswith("So the answer is Paris.")
    assert len(summary) <= SUMMARY.summary_chars
    tokens = out["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert tokens == estimate_tokens(summary)


def test_response_reasoning_sent_twice_is_summarised_and_counted_once() -> None:
    body = _completion(
        {
            "role": "assistant",
            "content": "Paris.",
            "reasoning": REASONING,
            "reasoning_content": REASONING,
        }
    )

    out = degrade_response(body, SUMMARY)

    message = out["choices"][0]["message"]
    assert message["reasoning"] == message["reasoning_content"]
    assert message["reasoning"] == summarise_reasoning(REASONING, SUMMARY.summary_chars)
    tokens = out["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert tokens == estimate_tokens(message["reasoning"])


def test_response_thinking_parts_and_reasoning_details_are_removed() -> None:
    text_part = {"type": "text", "text": "Paris."}
    parts = [
        {"type": "thinking", "thinking": REASONING, "signature": "sig"},
        text_part,
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "reasoning", "text": "More thoughts."},
    ]
    details = [{"type": "reasoning.text", "text": REASONING}]
    body = _completion({"role": "assistant", "content": parts, "reasoning_details": details})

    stripped = degrade_response(body, STRIP)["choices"][0]["message"]
    summarised = degrade_response(body, SUMMARY)["choices"][0]["message"]

    assert stripped == {"role": "assistant", "content": [text_part]}
    assert stripped["content"][0] is text_part
    assert summarised["content"] == [text_part]
    assert summarised["reasoning_content"].startswith(SUMMARY_PREFIX)
    assert "reasoning_details" not in summarised


def test_response_without_reasoning_keeps_its_usage_and_nothing_changes_with_no_options() -> None:
    body = _completion({"role": "assistant", "content": "Paris."})
    reasoning = _completion({"role": "assistant", "content": "x", "reasoning_content": "y"})

    assert degrade_response(body, STRIP) == body  # hidden reasoning: count left alone
    assert degrade_response(reasoning, NOTHING) == reasoning
    assert degrade_response({"error": {"message": "x"}}, STRIP) == {"error": {"message": "x"}}


# --- streams -----------------------------------------------------------------------------------


def _chunk(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return {**head, "choices": list(choices), **extra}


def _choice(
    index: int = 0, finish_reason: str | None = None, logprobs: Any = None, **delta: Any
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def _run(opts: DegradeOptions, chunks: list[dict[str, Any]]) -> tuple[list[Any], StreamDegrader]:
    degrader = StreamDegrader(opts)
    out = [emitted for chunk in chunks for emitted in degrader.feed(chunk)]
    return [*out, *degrader.finish()], degrader


def _deltas(chunks: list[dict[str, Any]], index: int = 0) -> list[dict[str, Any]]:
    return [c["delta"] for chunk in chunks for c in chunk["choices"] if c["index"] == index]


def _content(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(delta.get("content") or "" for delta in _deltas(chunks, index))


def _reasoning(chunks: list[dict[str, Any]], index: int = 0) -> list[str]:
    return [d[k] for d in _deltas(chunks, index) for k in REASONING_FIELDS if d.get(k)]


def test_stream_strip_suppresses_reasoning_only_chunks_and_keeps_the_rest() -> None:
    chunks = [
        _chunk(_choice(role="assistant", content="", reasoning_content="")),
        _chunk(_choice(reasoning_content="Let me think. ")),
        _chunk(_choice(reasoning_content="Paris.", content=None)),
        _chunk(_choice(reasoning_content="Done.", content="The answer")),
        _chunk(_choice(content=" is Paris.")),
        _chunk(_choice(finish_reason="stop")),
        _chunk(
            usage={"completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 6}}
        ),
    ]
    before = copy.deepcopy(chunks)

    out, degrader = _run(STRIP, chunks)

    assert chunks == before
    assert [_deltas([chunk]) for chunk in out[:4]] == [
        [{"role": "assistant", "content": ""}],
        [{"content": "The answer"}],
        [{"content": " is Paris."}],
        [{}],
    ]
    assert out[1]["choices"][0]["finish_reason"] is None
    assert out[2] is chunks[4]  # untouched chunks are passed on as the very same object
    assert out[3] is chunks[5]
    assert out[4]["usage"] == {
        "completion_tokens": 9,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert len(out) == 5
    assert degrader.removed_reasoning_chars == len("Let me think. Paris.Done.")


def test_stream_summary_comes_once_per_choice_before_its_first_content() -> None:
    chunks = [
        _chunk(_choice(role="assistant", content="")),
        _chunk(_choice(reasoning="The user wants a capital. ")),
        _chunk(_choice(reasoning="Several cities come to mind. " * 10)),
        _chunk(_choice(reasoning="It is Paris.")),
        _chunk(_choice(content="Paris")),
        _chunk(_choice(reasoning="An afterthought.", content=".")),
        _chunk(_choice(finish_reason="stop")),
    ]

    out, degrader = _run(SUMMARY, chunks)

    thought = "The user wants a capital. " + "Several cities come to mind. " * 10 + "It is Paris."
    summary = summarise_reasoning(thought, SUMMARY.summary_chars)
    assert _deltas(out) == [
        {"role": "assistant", "content": ""},
        {"reasoning": summary},  # the field the provider used
        {"content": "Paris"},
        {"content": "."},
        {},
    ]
    assert out[1]["id"] == "chatcmpl-1" and out[1]["object"] == "chat.completion.chunk"
    assert out[1]["choices"][0]["finish_reason"] is None
    assert degrader.reasoning_chars_out == len(summary)
    assert summary == SUMMARY_PREFIX + "The user wants a capital. … It is Paris."
    assert degrader.removed_reasoning_chars == len(thought + "An afterthought.") - len(summary)


def test_stream_summary_for_interleaved_choices_and_a_tool_call() -> None:
    tool_call = [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}]
    chunks = [
        _chunk(_choice(0, role="assistant"), _choice(1, role="assistant")),
        _chunk(_choice(1, reasoning_content="Second choice thinks.")),
        _chunk(_choice(0, reasoning_content="First choice thinks.")),
        _chunk(_choice(1, tool_calls=tool_call), _choice(0, reasoning_content=" More.")),
        _chunk(_choice(0, content="Answer zero."), _choice(1, finish_reason="tool_calls")),
        _chunk(_choice(0, finish_reason="stop")),
    ]

    out, _ = _run(SUMMARY, chunks)

    order = [(c["index"], tuple(c["delta"])) for chunk in out for c in chunk["choices"]]
    assert order == [
        (0, ("role",)),
        (1, ("role",)),
        (1, ("reasoning_content",)),
        (1, ("tool_calls",)),
        (0, ("reasoning_content",)),
        (0, ("content",)),
        (1, ()),
        (0, ()),
    ]
    assert _reasoning(out, 0) == [
        summarise_reasoning("First choice thinks. More.", SUMMARY.summary_chars)
    ]
    assert _reasoning(out, 1) == [summarise_reasoning("Second choice thinks.", 240)]
    assert _deltas(out, 1)[2] == {"tool_calls": tool_call}


def test_finish_flushes_summaries_of_a_stream_cut_while_reasoning() -> None:
    chunks = [
        _chunk(_choice(0, role="assistant"), _choice(1, role="assistant")),
        _chunk(_choice(1, reasoning_content="Still thinking about it")),
        _chunk(_choice(0, reasoning_content="Thinking too")),
    ]
    degrader = StreamDegrader(SUMMARY)
    during = [emitted for chunk in chunks for emitted in degrader.feed(chunk)]

    flushed = degrader.finish()

    assert len(during) == 1
    assert [chunk["choices"][0]["index"] for chunk in flushed] == [0, 1]
    assert _reasoning(flushed, 1) == [SUMMARY_PREFIX + "Still thinking about it"]
    assert degrader.finish() == []


def test_closing_usage_chunk_flushes_pending_summaries_before_it() -> None:
    usage = {"completion_tokens": 50, "completion_tokens_details": {"reasoning_tokens": 40}}
    chunks = [_chunk(_choice(reasoning_content="Only thoughts.")), _chunk(usage=usage)]

    out, _ = _run(SUMMARY, chunks)

    assert _reasoning(out[:1]) == [SUMMARY_PREFIX + "Only thoughts."]
    assert out[1]["choices"] == []
    kept = estimate_tokens(SUMMARY_PREFIX + "Only thoughts.")
    assert out[1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == kept
    assert len(out) == 2


def test_stream_logprobs_are_dropped_and_other_events_pass() -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.2, "top_logprobs": []}]}
    chunk = _chunk(_choice(content="Hi", logprobs=logprobs))
    error = {"error": {"message": "upstream broke", "type": "server_error"}}
    plain = _chunk(_choice(content="Hi"))

    out, _ = _run(STRIP, [chunk, error, plain])
    kept, _ = _run(NOTHING, [chunk])

    assert out[0]["choices"][0] == _choice(content="Hi")
    assert chunk["choices"][0]["logprobs"] == logprobs
    assert out[1] is error and out[2] is plain
    assert kept == [chunk] and kept[0] is chunk


def test_stream_thinking_parts_in_delta_content_are_removed() -> None:
    text = {"type": "text", "text": "Paris."}
    chunks = [
        _chunk(_choice(content=[{"type": "thinking", "thinking": "Hmm."}])),
        _chunk(_choice(content=[{"type": "thinking", "thinking": " Paris."}, text])),
    ]

    stripped, _ = _run(STRIP, chunks)
    summarised, _ = _run(SUMMARY, chunks)

    assert _deltas(stripped) == [{"content": [text]}]
    assert _deltas(summarised) == [
        {"reasoning_content": SUMMARY_PREFIX + "Hmm. Paris."},
        {"content": [text]},
    ]


# --- the property: the answer never changes ------------------------------------------------


@st.composite
def _streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A stream of 1-3 choices, each: role, reasoning pieces, content pieces, finish; the last
    reasoning piece may share a delta with the first content piece; choices interleave in any
    order and neighbouring events of different choices may share a chunk."""
    texts = st.text(st.characters(codec="utf-8"), max_size=12)
    events: list[list[dict[str, Any]]] = []
    for index in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(REASONING_FIELDS))
        reasoning = draw(st.lists(texts, max_size=5))
        content = draw(st.lists(texts, max_size=5))
        mixed = bool(reasoning and content and draw(st.booleans()))
        lp: dict[str, Any] | None = {"content": []} if draw(st.booleans()) else None
        own = [_choice(index, role="assistant", content="")]
        own += [_choice(index, **{field: text}) for text in reasoning[: -1 if mixed else None]]
        if mixed:
            own.append(_choice(index, content=content.pop(0), **{field: reasoning[-1]}))
        own += [_choice(index, content=text, logprobs=lp) for text in content]
        own.append(_choice(index, finish_reason=draw(st.sampled_from(["stop", "length"]))))
        events.append(own)
    chunks: list[list[dict[str, Any]]] = []
    while any(events):
        index = draw(st.sampled_from([i for i, queue in enumerate(events) if queue]))
        choice = events[index].pop(0)
        joinable = chunks and all(c["index"] != index for c in chunks[-1])
        if joinable and draw(st.booleans()):
            chunks[-1].append(choice)
        else:
            chunks.append([choice])
    stream = [_chunk(*choices) for choices in chunks]
    if draw(st.booleans()):
        stream.append(_chunk(usage={"completion_tokens_details": {"reasoning_tokens": 999}}))
    return stream


def _original_reasoning(chunks: list[dict[str, Any]], index: int) -> str:
    return "".join(d[k] for d in _deltas(chunks, index) for k in REASONING_FIELDS if k in d)


@PROPERTY
@given(_streams(), st.booleans())
def test_degraded_streams_carry_the_same_answer(
    stream: list[dict[str, Any]], summarise: bool
) -> None:
    opts = SUMMARY if summarise else STRIP
    before = copy.deepcopy(stream)

    out, degrader = _run(opts, stream)

    assert stream == before
    indices = sorted({c["index"] for chunk in stream for c in chunk["choices"]})
    summaries = 0
    for index in indices:
        assert _content(out, index) == _content(stream, index)
        deltas = _deltas(out, index)
        reasoning = _reasoning(out, index)
        expected = summarise_reasoning(_original_reasoning(stream, index), opts.summary_chars)
        assert reasoning == ([expected] if summarise and expected else [])
        if reasoning:  # the summary comes before the answer and the end of its choice
            at = next(i for i, d in enumerate(deltas) if any(d.get(k) for k in REASONING_FIELDS))
            assert all(not d.get("content") for d in deltas[:at])
            summaries += len(reasoning[0])
    emitted = [c for chunk in out for c in chunk["choices"]]
    assert all(c["logprobs"] is None for c in emitted)
    assert [c["finish_reason"] for c in emitted if c["finish_reason"]] == [
        c["finish_reason"] for chunk in stream for c in chunk["choices"] if c["finish_reason"]
    ]
    total = sum(len(_original_reasoning(stream, index)) for index in indices)
    assert degrader.reasoning_chars_in == total
    assert degrader.reasoning_chars_out == summaries
    usage = [chunk["usage"] for chunk in out if "usage" in chunk]
    if usage and total:
        assert usage[0]["completion_tokens_details"]["reasoning_tokens"] <= 999


# --- summaries ---------------------------------------------------------------------------------


@PROPERTY
@given(st.text(), st.integers(0, 400))
def test_summary_is_deterministic_and_never_longer_than_asked(text: str, limit: int) -> None:
    summary = summarise_reasoning(text, limit)

    assert len(summary) <= limit
    assert summary == summarise_reasoning(text, limit)
    assert summary == "" or summary.startswith(SUMMARY_PREFIX)
    if text.strip() and limit >= len(SUMMARY_PREFIX) + 1:
        assert summary


def test_summary_keeps_the_opening_and_the_conclusion() -> None:
    steps = "\n".join(f"Step {k}: consider option {k} carefully." for k in range(1, 40))
    long = summarise_reasoning(steps + "\nTherefore the answer is 42.", 120)

    assert long.startswith(SUMMARY_PREFIX + "Step 1:")
    assert long.endswith("the answer is 42.")
    assert "Step 2:" not in long and len(long) <= 120
    assert summarise_reasoning("   \n ", 240) == ""
    assert summarise_reasoning("One sentence only", 240) == SUMMARY_PREFIX + "One sentence only"
    clipped = summarise_reasoning("x" * 500, 60)
    assert len(clipped) == 60 and clipped.endswith("…")


# --- end to end with the replay upstream's reasoning model -----------------------------------

ANSWER = "Paris is the capital of France. It lies on the Seine. It has about two million people."


async def test_replay_reasoning_model_degrades_to_the_same_answer() -> None:
    conversations = [Conversation("c", (Turn("user", "Capital?"), Turn("assistant", ANSWER)))]
    app = create_replay_app(ReplaySettings(), conversations)
    body = {"model": REASONING_MODEL, "messages": [{"role": "user", "content": "Capital?"}]}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://replay") as http:
        plain = (await http.post("/v1/chat/completions", json=body)).json()
        raw = await http.post(
            "/v1/chat/completions",
            json={**body, "stream": True, "stream_options": {"include_usage": True}},
        )
    events = [line[6:] for line in raw.text.split("\n\n") if line.startswith("data: {")]
    stream = [orjson.loads(event) for event in events]

    degraded = degrade_response(plain, STRIP)
    out, degrader = _run(SUMMARY, stream)

    assert plain["choices"][0]["message"]["reasoning_content"]
    assert degraded["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert degraded["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert _content(out) == ANSWER == _content(stream)
    [summary] = _reasoning(out)
    assert summary.startswith(SUMMARY_PREFIX + "Step 1:") and len(summary) <= 240
    reasoning = plain["choices"][0]["message"]["reasoning_content"]
    assert degrader.reasoning_chars_in == len(reasoning)
    assert out[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == estimate_tokens(
        summary
    )
