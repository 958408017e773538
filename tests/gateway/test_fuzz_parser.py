"""Property tests of the request parser: bad input is a 4xx in the envelope, never a crash.

Whatever bytes arrive, ``parse_chat_request`` either returns a ``ChatRequest`` that satisfies
every limit, or raises ``GatewayError`` with status 400/413 and a usable message. Valid
requests are accepted and their body comes back unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.config import LimitsConfig
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.validation import ROLES, ChatRequest, parse_chat_request

LIMITS = LimitsConfig()
SMALL = LimitsConfig(max_n=2, max_tokens=50, max_messages=3, max_top_logprobs=2)

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Tests that build whole requests cost ~10 ms an example to generate; keep the file under 20 s.
FUZZ_REQUESTS = settings(FUZZ, max_examples=125)

# The fields the parser knows about; an error's `param` must name one of them.
KNOWN_FIELDS = (
    "model",
    "messages",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stream",
    "logprobs",
    "top_logprobs",
    "stream_options",
    "stop",
    "tools",
    "functions",
    "user",
)
INT_RANGES = {
    "n": (1, "max_n"),
    "max_tokens": (1, "max_tokens"),
    "max_completion_tokens": (1, "max_tokens"),
    "top_logprobs": (0, "max_top_logprobs"),
}
NUMBER_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
BOOL_FIELDS = ("stream", "logprobs")

# Values that have broken JSON APIs before: bools that are ints, ints past 64 bits, numbers in
# strings, empty containers, deep nesting.
SPECIAL: st.SearchStrategy[object] = st.sampled_from(
    [
        0,
        -1,
        1,
        2**31,
        2**53 + 1,
        2**63,
        2**64,
        10**30,
        -(10**30),
        True,
        False,
        None,
        1.5,
        -0.0,
        1e308,
        "",
        " ",
        "100",
        "NaN",
        "null",
        [],
        {},
        [[[[]]]],
        {"a": {"b": {"c": None}}},
        [None],
        [{"type": None}],
    ]
)

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
JUNK = SPECIAL | JSON_VALUES
# What a well-behaved client sends: integers that fit 64 bits, finite floats.
SAFE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
TEXT = st.text(max_size=40)
# Raw JSON literals that are not values (or are values that overflow) in Python's json module.
BAD_LITERALS = st.sampled_from(
    [
        "NaN",
        "-NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-1e999",
        "123456789012345678901234567890",
        "0x10",
        "01",
        "+1",
        "1.",
        ".5",
        "1e",
        "tru",
        "nul",
        "'single'",
        '"\\ud800"',
        '"\\udc00\\ud800"',
        '"\\x41"',
        '"\\u12"',
        '"unterminated',
        '"tab\there"',
        "[1,]",
        '{"a":1,}',
        "[" * 2000 + "]" * 2000,
        "undefined",
    ]
)
INVALID_UTF8 = st.sampled_from(
    [
        b"\xff",
        b"\xfe",
        b"\x80",
        b"\xc0\xaf",  # overlong '/'
        b"\xe0\x80\xaf",  # overlong '/'
        b"\xed\xa0\x80",  # encoded surrogate
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"\xf8\x88\x80\x80\x80",  # five-byte form
        b"\xe2\x82",  # truncated
        b"caf\xe9",  # latin-1
    ]
)
SENTINEL = "\x00sentinel\x00"


# --- strategies for valid requests ----------------------------------------------------------


TEXT_PART = st.builds(lambda t: {"type": "text", "text": t}, TEXT)
IMAGE_PART = st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, TEXT)
CONTENT = TEXT | st.lists(TEXT_PART | IMAGE_PART, min_size=1, max_size=3)
NAME = {"name": st.text(max_size=8)}
TOOL_CALLS = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
TOOL = st.fixed_dictionaries(
    {"type": st.just("function"), "function": st.fixed_dictionaries({"name": TEXT})}
)
VALID_MESSAGE = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": CONTENT},
        optional=NAME,
    ),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "content": CONTENT, "tool_call_id": st.text(max_size=8)}
    ),
    st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": st.none(), "tool_calls": st.just(TOOL_CALLS)}
    ),
    st.fixed_dictionaries(
        {
            "role": st.just("function"),
            "content": st.none() | TEXT,
            "function_call": st.just({"name": "f", "arguments": "{}"}),
        },
        optional=NAME,
    ),
)


def _maybe_null(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An explicit null means "not given", so it must be accepted wherever a value is."""
    return st.none() | strategy


@st.composite
def valid_requests(draw: st.DrawFn, limits: LimitsConfig = LIMITS) -> dict[str, Any]:
    numbers = {
        name: _maybe_null(st.floats(lo, hi) | st.integers(int(lo), int(hi)))
        for name, (lo, hi) in NUMBER_RANGES.items()
    }
    body: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {
                "model": st.text(min_size=1, max_size=20).filter(str.strip),
                "messages": st.lists(
                    VALID_MESSAGE, min_size=1, max_size=min(4, limits.max_messages)
                ),
            },
            optional={
                "n": _maybe_null(st.integers(1, limits.max_n)),
                "max_tokens": _maybe_null(st.integers(1, limits.max_tokens)),
                "max_completion_tokens": _maybe_null(st.integers(1, limits.max_tokens)),
                "seed": _maybe_null(st.integers(-(2**63), 2**63 - 1)),
                "stop": _maybe_null(TEXT | st.lists(TEXT, max_size=4)),
                "user": _maybe_null(TEXT),
                "tools": _maybe_null(st.lists(TOOL, max_size=2)),
                "unknown_extension": SAFE_SCALARS | st.lists(SAFE_SCALARS, max_size=3),
                "stream": _maybe_null(st.booleans()),
                "logprobs": _maybe_null(st.booleans()),
                **numbers,
            },
        )
    )
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    if body.get("logprobs") and draw(st.booleans()):
        body["top_logprobs"] = draw(st.integers(0, limits.max_top_logprobs))
    return body


# --- what every outcome must look like ------------------------------------------------------


def outcome(raw: bytes, limits: LimitsConfig = LIMITS) -> ChatRequest | GatewayError:
    """Parse; any exception other than a well-formed GatewayError fails the test."""
    try:
        chat = parse_chat_request(raw, limits)
    except GatewayError as err:
        assert err.status in (400, 413), err
        assert err.message.strip(), err
        assert err.type == "invalid_request_error", err
        assert err.code, err
        assert not err.headers, err
        envelope = orjson.loads(orjson.dumps(err.envelope()))
        assert list(envelope) == ["error"]
        assert set(envelope["error"]) == {"message", "type", "param", "code"}
        if err.param is not None:
            root = err.param.split(".", 1)[0].split("[", 1)[0]
            assert root in KNOWN_FIELDS, err
        return err
    check_accepted(chat, limits)
    return chat


def check_accepted(chat: ChatRequest, limits: LimitsConfig) -> None:
    """Anything accepted satisfies every rule, so nothing downstream has to re-check it."""
    body = chat.body
    assert isinstance(body, dict)
    assert isinstance(chat.model, str) and chat.model.strip() and chat.model == body["model"]
    messages = body["messages"]
    assert isinstance(messages, list) and 1 <= len(messages) <= limits.max_messages
    for message in messages:
        assert isinstance(message, dict) and message.get("role") in ROLES
        content = message.get("content")
        assert content is None or isinstance(content, str | list)
    for name, (lo, attr) in INT_RANGES.items():
        value = body.get(name)
        if value is not None:
            assert type(value) is int and lo <= value <= getattr(limits, attr), (name, value)
    for name, (flo, fhi) in NUMBER_RANGES.items():
        value = body.get(name)
        if value is not None:
            assert type(value) in (int, float) and math.isfinite(value) and flo <= value <= fhi
    for name in BOOL_FIELDS:
        assert body.get(name) is None or type(body.get(name)) is bool
    assert body.get("top_logprobs") is None or body.get("logprobs") is True
    assert body.get("stream_options") is None or chat.stream
    assert 1 <= chat.n <= limits.max_n
    assert chat.max_tokens is None or 1 <= chat.max_tokens <= limits.max_tokens
    assert type(chat.stream) is bool and type(chat.include_usage) is bool
    assert chat.prompt_tokens_estimate >= 4 * len(messages)


def expected_tokens(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        text = content if isinstance(content, str) else ""
        total += math.ceil(len(text.encode("utf-8")) / 4) + 4
    return total


def dumps(value: object) -> bytes:
    """JSON the way a careless client writes it: big ints as they are, NaN allowed."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8")


# --- anything at all ------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    outcome(raw)


@FUZZ
@given(JSON_VALUES | st.floats() | st.lists(st.floats(), max_size=3))
def test_arbitrary_json_values_never_crash(value: object) -> None:
    result = outcome(dumps(value))
    if not isinstance(value, dict):
        assert isinstance(result, GatewayError) and result.code == "invalid_json"


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(KNOWN_FIELDS) | st.text(max_size=8), JUNK, min_size=1, max_size=8
    )
)
def test_objects_of_known_fields_with_junk_values_never_crash(body: dict[str, Any]) -> None:
    outcome(dumps(body))


# --- mutations of valid requests ------------------------------------------------------------


@st.composite
def mutated_requests(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(valid_requests())
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(["top", "message", "part", "messages", "stream_options"]))
        action = draw(st.sampled_from(["drop", "replace"]))
        if target == "top":
            key = draw(st.sampled_from(KNOWN_FIELDS))
            if action == "drop":
                body.pop(key, None)
            else:
                body[key] = draw(JUNK)
        elif target == "messages":
            messages = body.get("messages")
            if isinstance(messages, list) and messages and action == "replace":
                messages[draw(st.integers(0, len(messages) - 1))] = draw(JUNK)
            else:
                body["messages"] = draw(JUNK)
        elif target in ("message", "part"):
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                continue
            message = messages[draw(st.integers(0, len(messages) - 1))]
            if not isinstance(message, dict):
                continue
            holder: dict[str, Any] = message
            keys = ["role", "content", "tool_call_id", "name", "tool_calls"]
            if target == "part":
                parts = message.get("content")
                if not isinstance(parts, list) or not parts:
                    continue
                index = draw(st.integers(0, len(parts) - 1))
                if not isinstance(parts[index], dict) or draw(st.booleans()):
                    parts[index] = draw(JUNK)
                    continue
                holder, keys = parts[index], ["type", "text", "image_url"]
            key = draw(st.sampled_from(keys))
            if action == "drop":
                holder.pop(key, None)
            else:
                holder[key] = draw(JUNK)
        else:
            body["stream_options"] = draw(JUNK | st.fixed_dictionaries({"include_usage": JUNK}))
    return body


@FUZZ_REQUESTS
@given(mutated_requests())
def test_mutated_valid_requests_never_crash(body: dict[str, Any]) -> None:
    raw = dumps(body)
    result = outcome(raw)
    if isinstance(result, ChatRequest):
        assert result.body == orjson.loads(raw)


@FUZZ_REQUESTS
@given(valid_requests(), st.sampled_from(KNOWN_FIELDS), BAD_LITERALS)
def test_bad_json_literals_in_any_field_are_400(
    body: dict[str, Any], field: str, literal: str
) -> None:
    body[field] = SENTINEL
    raw = dumps(body).replace(dumps(SENTINEL), literal.encode("utf-8"), 1)
    result = outcome(raw)
    assert isinstance(result, GatewayError) and result.status == 400


@FUZZ_REQUESTS
@given(valid_requests(), st.sampled_from(["model", "content", "stop", "user"]), INVALID_UTF8)
def test_invalid_utf8_anywhere_is_400_invalid_encoding(
    body: dict[str, Any], field: str, bad: bytes
) -> None:
    if field == "content":
        body["messages"][0] = {"role": "user", "content": SENTINEL}
    else:
        body[field] = SENTINEL
    raw = dumps(body).replace(dumps(SENTINEL)[1:-1], b"ok" + bad + b"ok", 1)
    result = outcome(raw)
    assert isinstance(result, GatewayError)
    assert (result.status, result.code) == (400, "invalid_encoding")


MUTATION = st.tuples(
    st.integers(0, 2**16),
    st.sampled_from(["flip", "insert", "delete", "truncate"]),
    st.binary(min_size=1, max_size=4),
)


@FUZZ_REQUESTS
@given(valid_requests(), st.lists(MUTATION, min_size=1, max_size=4))
def test_byte_level_corruption_never_crashes(
    body: dict[str, Any], mutations: list[tuple[int, str, bytes]]
) -> None:
    raw = bytearray(orjson.dumps(body))
    for where, kind, extra in mutations:
        position = where % (len(raw) + 1)
        if kind == "flip" and position < len(raw):
            raw[position] ^= extra[0] or 0xFF
        elif kind == "insert":
            raw[position:position] = extra
        elif kind == "delete":
            del raw[position : position + len(extra)]
        else:
            del raw[position:]
    outcome(bytes(raw))


@FUZZ_REQUESTS
@given(
    valid_requests(SMALL),
    st.sampled_from(["n", "max_tokens", "max_completion_tokens", "top_logprobs", "messages"]),
    st.integers(1, 10**6),
    st.booleans(),
)
def test_values_past_the_configured_limits_are_400(
    body: dict[str, Any], field: str, excess: int, below: bool
) -> None:
    lo, attr = INT_RANGES.get(field, (1, "max_messages"))
    value = lo - excess if below else getattr(SMALL, attr) + excess
    if field == "messages":
        if below:
            body["messages"] = []
        else:
            body["messages"] = [{"role": "user", "content": "x"}] * min(value, 50)
    else:
        body[field] = value
        body["logprobs"] = True
    result = outcome(dumps(body), SMALL)
    assert isinstance(result, GatewayError)
    assert result.status == 400 and result.param == field


# --- valid requests -------------------------------------------------------------------------


@FUZZ_REQUESTS
@given(valid_requests(), st.sampled_from(["", " ", "\n", "\t", "\r\n  "]), st.booleans())
def test_valid_requests_are_accepted_and_round_trip(
    body: dict[str, Any], pad: str, indent: bool
) -> None:
    """Accepted whatever the layout (padding, pretty-printing); the body comes back as sent."""
    raw = orjson.dumps(body, option=orjson.OPT_INDENT_2 if indent else None)
    result = outcome(pad.encode() + raw + pad.encode())
    assert isinstance(result, ChatRequest), result
    assert result.body == body == orjson.loads(orjson.dumps(result.body))
    assert result.model == body["model"]
    assert result.stream is bool(body.get("stream"))
    assert result.include_usage is bool((body.get("stream_options") or {}).get("include_usage"))
    assert result.n == (body.get("n") or 1)
    completion_limit = body.get("max_completion_tokens")
    expected = completion_limit if completion_limit is not None else body.get("max_tokens")
    assert result.max_tokens == expected
    assert result.prompt_tokens_estimate == expected_tokens(body["messages"])
