"""Bad input against a running gateway: a clear OpenAI-style error, one event, no crash.

Each case goes over real HTTP (httpx, or a raw socket where httpx would refuse to send it) to
the gateway in front of the replay upstream. Every refusal must be a 4xx in the envelope
``{"error": {"message", "type", "param", "code"}}`` with our own ``x-request-id``, must be
recorded as exactly one event, and must leave the server serving.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import GatewayHandle, gateway_config, running_gateway
from distillguard.config import LimitsConfig
from distillguard.events import UNAUTHENTICATED_ACCOUNT, Event

MODEL = "replay-sharegpt"
MESSAGES = [{"role": "user", "content": "Question number 1: what is 1 plus 1?"}]
VALID: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
REQUEST_ID = re.compile(r"req_[0-9a-f]{24}")
ENVELOPE_KEYS = {"message", "type", "param", "code"}
UNSET = object()


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def client(gateway: GatewayHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def bearer(gw: GatewayHandle, account: str = "alice") -> dict[str, str]:
    return {"authorization": f"Bearer {gw.keys[account]}"}


def body(**overrides: object) -> bytes:
    """A valid request with some fields replaced; ints of any size are written as they are."""
    return json.dumps({**VALID, **overrides}).encode()


def one(message: object) -> bytes:
    return body(messages=[message])


def user(content: object) -> bytes:
    return one({"role": "user", "content": content})


def without(*names: str) -> bytes:
    return json.dumps({k: v for k, v in VALID.items() if k not in names}).encode()


def assert_envelope(
    response: httpx.Response,
    status: int,
    code: str | None = None,
    param: object = UNSET,
) -> dict[str, Any]:
    """The response is an OpenAI error envelope with our request id; return its `error`."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == status, (where, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), where
    assert REQUEST_ID.fullmatch(response.headers.get("x-request-id", "")), response.headers
    if response.request.method == "HEAD":
        assert response.content == b""
        return {}
    payload = response.json()
    assert isinstance(payload, dict) and list(payload) == ["error"], payload
    error: dict[str, Any] = payload["error"]
    assert set(error) == ENVELOPE_KEYS, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error
    if code is not None:
        assert error["code"] == code, (where, error)
    if param is not UNSET:
        assert error["param"] == param, (where, error)
    return error


def wait_for_events(
    gw: GatewayHandle, request_ids: Sequence[str], timeout: float = 2.0
) -> list[Event]:
    """The log flushes every 50 ms in the fixture; wait until every id has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        events = gw.events()
        seen = {e.get("request_id") for e in events}
        if all(rid in seen for rid in request_ids) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def assert_one_event_each(gw: GatewayHandle, responses: Sequence[httpx.Response]) -> list[Event]:
    """Every refused response has exactly one event, refused with the same status and code."""
    refused = [r for r in responses if r.status_code >= 400]
    ids = [r.headers["x-request-id"] for r in refused]
    assert len(set(ids)) == len(ids), "request ids must be unique"
    events = wait_for_events(gw, ids)
    per_id = Counter(e.get("request_id") for e in events)
    missing = [rid for rid in ids if per_id[rid] != 1]
    assert not missing, f"{len(missing)} refused requests without exactly one event: {missing}"
    by_id = {e["request_id"]: e for e in events}
    for response in refused:
        event = by_id[response.headers["x-request-id"]]
        assert "response" not in event, event
        assert event["rejected"]["status"] == response.status_code, event
        if response.request.method != "HEAD":
            assert event["rejected"]["code"] == response.json()["error"]["code"], event
    wanted = Counter(r.status_code for r in refused)
    logged = Counter(e["rejected"]["status"] for e in events if e.get("request_id") in set(ids))
    assert logged == wanted
    return events


@dataclass(frozen=True)
class RawResponse:
    status: int | None  # None: the server closed the connection without answering
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)


def raw_exchange(url: str, request: bytes, *, shut_write: bool = False) -> RawResponse:
    """Send bytes as they are (no client library tidying them up) and read the answer."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    chunks: list[bytes] = []
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        return RawResponse(None, [], b"")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), lines[0]
    headers = [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    ]
    return RawResponse(int(lines[0].split(" ")[1]), headers, rest)


def raw_request(
    method: str, path: str, headers: Mapping[str, str] | None = None, content: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


def assert_raw_envelope(response: RawResponse, status: int, code: str | None = None) -> None:
    assert response.status == status, response
    assert (response.header("content-type") or "").startswith("application/json"), response
    assert REQUEST_ID.fullmatch(response.header("x-request-id") or ""), response
    payload = json.loads(response.body)
    assert list(payload) == ["error"] and set(payload["error"]) == ENVELOPE_KEYS, payload
    if code is not None:
        assert payload["error"]["code"] == code, payload


def assert_still_serving(gw: GatewayHandle) -> None:
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.get("/healthz").status_code == 200
        r = c.post("/v1/chat/completions", content=body(), headers=bearer(gw))
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"]


def run_cases(
    client: httpx.Client,
    gw: GatewayHandle,
    cases: Sequence[tuple[str, bytes, str, object]],
) -> list[httpx.Response]:
    """POST each (name, body, code, param) and check every answer; report all mismatches."""
    responses: list[httpx.Response] = []
    failures: list[str] = []
    for name, content, code, param in cases:
        r = client.post(
            "/v1/chat/completions",
            content=content,
            headers={**bearer(gw), "content-type": "application/json"},
        )
        responses.append(r)
        try:
            assert_envelope(r, 400, code, param)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    return responses


# --- the body -----------------------------------------------------------------------------------

_OK = body()
MALFORMED: list[tuple[str, bytes, str, object]] = [
    ("not json", b"{not json", "invalid_json", None),
    ("truncated", b'{"model": "m", "messages": [', "invalid_json", None),
    ("empty", b"", "invalid_json", None),
    ("only whitespace", b" \r\n\t ", "invalid_json", None),
    ("array", b"[" + _OK + b"]", "invalid_json", None),
    ("string", b'"hello"', "invalid_json", None),
    ("number", b"42", "invalid_json", None),
    ("null", b"null", "invalid_json", None),
    ("true", b"true", "invalid_json", None),
    ("NUL byte", b"\x00", "invalid_json", None),
    ("NaN literal", _OK[:-1] + b', "temperature": NaN}', "invalid_json", None),
    ("Infinity literal", _OK[:-1] + b', "max_tokens": Infinity}', "invalid_json", None),
    ("overflowing number", _OK[:-1] + b', "temperature": 1e999}', "invalid_json", None),
    ("lone surrogate escape", user("\ud800"), "invalid_json", None),
    (
        "deep nesting",
        _OK[:-1] + b', "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "invalid_json",
        None,
    ),
    ("trailing garbage", _OK + b"garbage", "invalid_json", None),
    ("two objects", _OK + _OK, "invalid_json", None),
    ("comment", b'{/* hi */"model": "m"}', "invalid_json", None),
    ("single quotes", b"{'model': 'm'}", "invalid_json", None),
    ("trailing comma", _OK[:-1] + b",}", "invalid_json", None),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + _OK, "invalid_json", None),
    ("latin-1 text", _OK.replace(b"what", b"caf\xe9"), "invalid_encoding", None),
    ("0xFF byte", b"\xff" + _OK, "invalid_encoding", None),
    ("overlong encoding", _OK.replace(b"what", b"\xc0\xaf"), "invalid_encoding", None),
    ("encoded surrogate", _OK.replace(b"what", b"\xed\xa0\x80"), "invalid_encoding", None),
    ("beyond U+10FFFF", _OK.replace(b"what", b"\xf4\x90\x80\x80"), "invalid_encoding", None),
    ("truncated sequence", _OK.replace(b"what", b"\xe2\x82"), "invalid_encoding", None),
    ("UTF-16", _OK.decode().encode("utf-16"), "invalid_encoding", None),
]


def test_malformed_bodies_are_400_envelopes(gateway: GatewayHandle, client: httpx.Client) -> None:
    responses = run_cases(client, gateway, MALFORMED)
    assert_one_event_each(gateway, responses)
    assert_still_serving(gateway)


_MISSING = "missing_required_parameter"
BAD_MESSAGES: list[tuple[str, bytes, str, object]] = [
    ("no model", without("model"), _MISSING, "model"),
    ("model null", body(model=None), _MISSING, "model"),
    ("model empty", body(model=""), _MISSING, "model"),
    ("model blank", body(model="  \n"), _MISSING, "model"),
    ("model number", body(model=5), _MISSING, "model"),
    ("model list", body(model=[MODEL]), _MISSING, "model"),
    ("no messages", without("messages"), _MISSING, "messages"),
    ("messages null", body(messages=None), _MISSING, "messages"),
    ("messages empty", body(messages=[]), _MISSING, "messages"),
    ("messages string", body(messages="hi"), _MISSING, "messages"),
    ("messages object", body(messages=MESSAGES[0]), _MISSING, "messages"),
    ("message null", body(messages=[None]), "invalid_type", "messages[0]"),
    ("message string", body(messages=["hi"]), "invalid_type", "messages[0]"),
    ("message pair", body(messages=[["user", "hi"]]), "invalid_type", "messages[0]"),
    ("no role", one({"content": "hi"}), "invalid_value", "messages[0].role"),
    ("unknown role", one({"role": "wizard", "content": "hi"}), "invalid_value", "messages[0].role"),
    (
        "upper-case role",
        one({"role": "USER", "content": "hi"}),
        "invalid_value",
        "messages[0].role",
    ),
    ("numeric role", one({"role": 1, "content": "hi"}), "invalid_value", "messages[0].role"),
    ("content number", user(42), "invalid_type", "messages[0].content"),
    ("content bool", user(True), "invalid_type", "messages[0].content"),
    ("content object", user({"text": "hi"}), "invalid_type", "messages[0].content"),
    ("part number", user([42]), "invalid_type", "messages[0].content[0]"),
    ("part without type", user([{"text": "hi"}]), "invalid_type", "messages[0].content[0]"),
    ("part numeric type", user([{"type": 1}]), "invalid_type", "messages[0].content[0]"),
    (
        "text part without text",
        user([{"type": "text"}]),
        "invalid_type",
        "messages[0].content[0].text",
    ),
    (
        "text part list text",
        user([{"type": "text", "text": ["a"]}]),
        "invalid_type",
        "messages[0].content[0].text",
    ),
    ("no content", one({"role": "user"}), _MISSING, "messages[0].content"),
    (
        "system content null",
        one({"role": "system", "content": None}),
        _MISSING,
        "messages[0].content",
    ),
    (
        "assistant null without tool calls",
        one({"role": "assistant", "content": None}),
        _MISSING,
        "messages[0].content",
    ),
    (
        "tool without id",
        one({"role": "tool", "content": "42"}),
        _MISSING,
        "messages[0].tool_call_id",
    ),
    (
        "second message bad",
        body(messages=[*MESSAGES, {"role": "user"}]),
        _MISSING,
        "messages[1].content",
    ),
    ("too many messages", body(messages=MESSAGES * 4097), "invalid_value", "messages"),
]


def test_bad_messages_are_400_envelopes(gateway: GatewayHandle, client: httpx.Client) -> None:
    responses = run_cases(client, gateway, BAD_MESSAGES)
    assert_one_event_each(gateway, responses)
    assert_still_serving(gateway)


_TYPE, _VALUE, _REQ = "invalid_type", "invalid_value", "invalid_request"
ABSURD: list[tuple[str, bytes, str, object]] = [
    ("n=0", body(n=0), _VALUE, "n"),
    ("n=-1", body(n=-1), _VALUE, "n"),
    ("n=17", body(n=17), _VALUE, "n"),
    ("n=10**9", body(n=10**9), _VALUE, "n"),
    ("n=2**64", body(n=2**64), _TYPE, "n"),
    ("n=10**30", body(n=10**30), _TYPE, "n"),
    ("n=True", body(n=True), _TYPE, "n"),
    ("n=1.5", body(n=1.5), _TYPE, "n"),
    ("n='2'", body(n="2"), _TYPE, "n"),
    ("max_tokens=-1", body(max_tokens=-1), _VALUE, "max_tokens"),
    ("max_tokens=0", body(max_tokens=0), _VALUE, "max_tokens"),
    ("max_tokens=262145", body(max_tokens=262_145), _VALUE, "max_tokens"),
    ("max_tokens=10**12", body(max_tokens=10**12), _VALUE, "max_tokens"),
    ("max_tokens='100'", body(max_tokens="100"), _TYPE, "max_tokens"),
    ("max_tokens=100.0", body(max_tokens=100.0), _TYPE, "max_tokens"),
    ("max_tokens=True", body(max_tokens=True), _TYPE, "max_tokens"),
    ("max_completion_tokens=-1", body(max_completion_tokens=-1), _VALUE, "max_completion_tokens"),
    (
        "max_completion_tokens=10**12",
        body(max_completion_tokens=10**12),
        _VALUE,
        "max_completion_tokens",
    ),
    (
        "max_completion_tokens='100'",
        body(max_completion_tokens="100"),
        _TYPE,
        "max_completion_tokens",
    ),
    ("temperature='hot'", body(temperature="hot"), _TYPE, "temperature"),
    ("temperature='NaN'", body(temperature="NaN"), _TYPE, "temperature"),
    ("temperature='Infinity'", body(temperature="Infinity"), _TYPE, "temperature"),
    ("temperature=True", body(temperature=True), _TYPE, "temperature"),
    ("temperature=[1]", body(temperature=[1]), _TYPE, "temperature"),
    ("temperature=2.5", body(temperature=2.5), _VALUE, "temperature"),
    ("temperature=-0.1", body(temperature=-0.1), _VALUE, "temperature"),
    ("temperature=1e308", body(temperature=1e308), _VALUE, "temperature"),
    ("top_p=1.5", body(top_p=1.5), _VALUE, "top_p"),
    ("presence_penalty=-3", body(presence_penalty=-3), _VALUE, "presence_penalty"),
    ("frequency_penalty='x'", body(frequency_penalty="x"), _TYPE, "frequency_penalty"),
    ("top_logprobs without logprobs", body(top_logprobs=5), _REQ, "top_logprobs"),
    (
        "top_logprobs with logprobs=false",
        body(top_logprobs=5, logprobs=False),
        _REQ,
        "top_logprobs",
    ),
    ("top_logprobs=21", body(top_logprobs=21, logprobs=True), _VALUE, "top_logprobs"),
    ("top_logprobs=-1", body(top_logprobs=-1, logprobs=True), _VALUE, "top_logprobs"),
    ("logprobs='yes'", body(logprobs="yes"), _TYPE, "logprobs"),
    ("stream='true'", body(stream="true"), _TYPE, "stream"),
    ("stream=1", body(stream=1), _TYPE, "stream"),
    (
        "stream_options without stream",
        body(stream_options={"include_usage": True}),
        _REQ,
        "stream_options",
    ),
    ("stream_options string", body(stream=True, stream_options="x"), _REQ, "stream_options"),
    (
        "include_usage='yes'",
        body(stream=True, stream_options={"include_usage": "yes"}),
        _REQ,
        "stream_options.include_usage",
    ),
    ("stop number", body(stop=5), _REQ, "stop"),
    ("stop five strings", body(stop=["a", "b", "c", "d", "e"]), _REQ, "stop"),
    ("stop list of numbers", body(stop=[1]), _REQ, "stop"),
    ("tools string", body(tools="x"), _REQ, "tools"),
    ("tools of numbers", body(tools=[1]), _REQ, "tools"),
    ("functions object", body(functions={}), _REQ, "functions"),
    ("user number", body(user=5), _REQ, "user"),
    ("seed=1.5", body(seed=1.5), _TYPE, "seed"),
    ("seed=2**64", body(seed=2**64), _TYPE, "seed"),
    ("seed='1'", body(seed="1"), _TYPE, "seed"),
]


def test_absurd_parameters_are_400_envelopes(gateway: GatewayHandle, client: httpx.Client) -> None:
    responses = run_cases(client, gateway, ABSURD)
    assert_one_event_each(gateway, responses)
    assert_still_serving(gateway)


def test_bad_key_is_checked_before_the_body(gateway: GatewayHandle, client: httpx.Client) -> None:
    r = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"authorization": "Bearer nope"}
    )
    assert_envelope(r, 401, "invalid_api_key")
    assert_one_event_each(gateway, [r])


# --- size limits ---------------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    """A valid request of exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = body()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def test_body_over_the_default_limit_is_413(gateway: GatewayHandle, client: httpx.Client) -> None:
    limit = gateway.config.limits.max_body_bytes
    assert limit == 10 * 1024 * 1024
    headers = bearer(gateway)

    # Declared too large: refused from the header alone, without waiting for the body.
    started = time.monotonic()
    declared = raw_exchange(
        gateway.url,
        raw_request("POST", "/v1/chat/completions", {**headers, "Content-Length": str(limit + 1)}),
    )
    assert time.monotonic() - started < 2
    assert_raw_envelope(declared, 413, "request_too_large")

    # Sent chunked, so only counting the bytes can catch it.
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * (1024 * 1024)
        yield b" "

    streamed = client.post("/v1/chat/completions", content=chunks(), headers=headers)
    error = assert_envelope(streamed, 413, "request_too_large")
    assert str(limit) in error["message"]
    assert_one_event_each(gateway, [streamed])
    events = gateway.events()
    assert Counter(e["rejected"]["status"] for e in events if "rejected" in e)[413] == 2
    assert_still_serving(gateway)


def test_body_limit_is_configurable(tmp_path: Path, replay_url: str) -> None:
    limit = 1024
    config = gateway_config(tmp_path, replay_url, limits=LimitsConfig(max_body_bytes=limit))
    with running_gateway(config) as gw, httpx.Client(base_url=gw.url, timeout=10) as c:
        headers = bearer(gw)
        exact = c.post("/v1/chat/completions", content=_padded(limit), headers=headers)
        assert exact.status_code == 200, exact.text
        over = c.post("/v1/chat/completions", content=_padded(limit + 1), headers=headers)
        error = assert_envelope(over, 413, "request_too_large", None)
        assert str(limit) in error["message"]
        streamed = c.post(
            "/v1/chat/completions", content=iter([_padded(limit), b" " * limit]), headers=headers
        )
        assert_envelope(streamed, 413, "request_too_large")
        declared = raw_exchange(
            gw.url,
            raw_request("POST", "/v1/chat/completions", {**headers, "Content-Length": "1025"}),
        )
        assert_raw_envelope(declared, 413, "request_too_large")
        assert_one_event_each(gw, [over, streamed])
        statuses = Counter(
            (e.get("rejected") or e.get("response") or {}).get("status")
            for e in gw.events_at_least(4)
        )
        assert statuses == Counter({413: 3, 200: 1})
        assert_still_serving(gw)


@pytest.mark.parametrize(
    "value",
    ["abc", "-1", "1.5", "0x10", "1 2", "", "99999999999999999999999", "+5"],
)
def test_bogus_content_length_is_refused(gateway: GatewayHandle, value: str) -> None:
    """The HTTP parser refuses these (400, its own body) or the gateway does (envelope)."""
    request = raw_request(
        "POST", "/v1/chat/completions", {**bearer(gateway), "Content-Length": value}, _OK
    )
    response = raw_exchange(gateway.url, request)
    assert response.status is None or 400 <= response.status < 500, response
    if response.header("x-request-id") is not None:  # answered by the gateway, not the parser
        assert_raw_envelope(response, response.status or 0)
    assert response.header("set-cookie") is None
    assert_still_serving(gateway)


def test_conflicting_framing_is_refused(gateway: GatewayHandle) -> None:
    """Request smuggling shapes: two lengths, or a length and chunked together."""
    key = bearer(gateway)
    for extra in (
        {"Content-Length": str(len(_OK)), "Content-length": str(len(_OK) + 5)},
        {"Content-Length": "3", "Transfer-Encoding": "chunked"},
        {"Transfer-Encoding": "chunked, identity"},
    ):
        request = raw_request("POST", "/v1/chat/completions", {**key, **extra}, b"0\r\n\r\n" + _OK)
        response = raw_exchange(gateway.url, request)
        assert response.status is None or 400 <= response.status < 500, (extra, response)
    assert_still_serving(gateway)


def test_body_shorter_than_its_content_length_is_a_client_disconnect(
    gateway: GatewayHandle,
) -> None:
    request = raw_request(
        "POST", "/v1/chat/completions", {**bearer(gateway), "Content-Length": "100"}, b'{"model":'
    )
    raw_exchange(gateway.url, request, shut_write=True)
    deadline = time.monotonic() + 2
    while not (events := gateway.events()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(events) == 1
    assert events[0]["rejected"]["status"] == 499
    assert events[0]["rejected"]["code"] == "client_disconnected"
    assert_still_serving(gateway)


# --- methods, paths, keys ------------------------------------------------------------------------


def test_wrong_method_is_405_envelope(gateway: GatewayHandle, client: httpx.Client) -> None:
    responses = []
    for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"):
        r = client.request(method, "/v1/chat/completions", headers=bearer(gateway))
        assert_envelope(r, 405, "method_not_allowed")
        responses.append(r)
    assert_one_event_each(gateway, responses)


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "PURGE", "QUERY", "CONNECT"])
def test_uncommon_methods_get_the_envelope_too(gateway: GatewayHandle, method: str) -> None:
    """Methods outside the route's list must not fall through to Starlette's plain-text 405."""
    response = raw_exchange(
        gateway.url, raw_request(method, "/v1/chat/completions", bearer(gateway))
    )
    assert_raw_envelope(response, 405, "method_not_allowed")
    events = wait_for_events(gateway, [response.header("x-request-id") or ""])
    assert [e["rejected"]["status"] for e in events] == [405]


UNKNOWN_PATHS = [
    ("GET", "/"),
    ("GET", "/v1"),
    ("GET", "/v1/"),
    ("GET", "/v1/nope"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/chat/completions/"),
    ("GET", "/v1/models/"),
    ("GET", "/v1/models/replay-sharegpt"),
    ("POST", "/v1/models"),
    ("GET", "/v2/chat/completions"),
    ("GET", "/v1/%2e%2e/openapi.json"),
    ("POST", "/v1/chat/completions%00"),
    ("GET", "/%ff%fe"),
    ("DELETE", "/healthz"),
    ("POST", "/openapi.json"),
    ("GET", "/" + "a" * 8000),
]


def test_unknown_paths_are_404_envelopes(gateway: GatewayHandle, client: httpx.Client) -> None:
    responses = []
    for method, path in UNKNOWN_PATHS:
        for headers in ({}, bearer(gateway)):
            r = client.request(method, path, headers=headers)
            assert_envelope(r, 404, "unknown_url")
            assert r.headers.get("location") is None, "no redirects (trailing slashes)"
            responses.append(r)
    assert_one_event_each(gateway, responses)


@pytest.mark.parametrize(
    "path",
    ["/v1/a%0Ab", "/v1/%0D%0ASet-Cookie:%20injected=1", "/v1/chat/%0A/completions", "/x%0Ay"],
)
def test_paths_with_encoded_line_breaks_get_the_envelope(
    gateway: GatewayHandle, client: httpx.Client, path: str
) -> None:
    """A decoded newline inside the path must not slip past the catch-all route."""
    r = client.get(path, headers=bearer(gateway))
    assert "set-cookie" not in r.headers
    assert_envelope(r, 404, "unknown_url")
    assert_one_event_each(gateway, [r])


def test_asterisk_request_target_gets_the_envelope(gateway: GatewayHandle) -> None:
    """`OPTIONS *` reaches the app with path '*', which no route matches."""
    response = raw_exchange(gateway.url, raw_request("OPTIONS", "*"))
    assert response.status is not None and 400 <= response.status < 500, response
    assert_raw_envelope(response, response.status)


def _auth_variants(gw: GatewayHandle) -> list[dict[str, str] | dict[bytes, bytes]]:
    key = gw.keys["alice"]
    return [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
        {"authorization": f"Token {key}"},
        {"authorization": key},
        {"authorization": f"Bearer{key}"},
        {"authorization": "bearer dg-wrong-key-1234567890"},
        {"authorization": f"Bearer {key}x"},
        {"authorization": f"Bearer {key[:-1]}"},
        {"authorization": f"Bearer {key} {key}"},
        {"authorization": "Bearer " + "x" * 10_000},
        {b"authorization": b"Bearer \xff\xfe\x80"},
        {"authorization": "Bearer ' OR 1=1 --"},
        {"x-api-key": key},
    ]


def test_missing_or_garbage_authorization_is_401(
    gateway: GatewayHandle, client: httpx.Client
) -> None:
    responses = []
    for headers in _auth_variants(gateway):
        chat = client.post("/v1/chat/completions", content=_OK, headers=headers)
        models = client.get("/v1/models", headers=headers)
        for r in (chat, models):
            assert_envelope(r, 401, "invalid_api_key")
            assert r.headers["www-authenticate"].startswith("Bearer")
            responses.append(r)
    events = assert_one_event_each(gateway, responses)
    assert {e["account_id"] for e in events} == {UNAUTHENTICATED_ACCOUNT}
    assert_still_serving(gateway)


@pytest.mark.parametrize("value", ["Bearer ", "Bearer \t ", " Bearer", "Bearer\t", "\t"])
def test_whitespace_only_credentials_are_401(gateway: GatewayHandle, value: str) -> None:
    """Values httpx will not send (stray whitespace), over a raw socket."""
    for method, path, content in (
        ("POST", "/v1/chat/completions", _OK),
        ("GET", "/v1/models", b""),
    ):
        headers = {"Authorization": value, "Content-Length": str(len(content))}
        response = raw_exchange(gateway.url, raw_request(method, path, headers, content))
        assert_raw_envelope(response, 401, "invalid_api_key")


# --- headers: injection, reflection, size --------------------------------------------------------

INJECTIONS = [
    b"X-Request-Id: evil\rSet-Cookie: injected=1\r\n",  # bare CR
    b"X-Request-Id: evil\nSet-Cookie: injected=1\r\n",  # bare LF
    b"User-Agent: evil\r\n Set-Cookie: injected=1\r\n",  # obsolete line folding
    b"User-Agent: evil\x00Set-Cookie: injected=1\r\n",  # NUL
    b"User-Agent: evil\x0bSet-Cookie: injected=1\r\n",  # vertical tab
    b"X Bad Name: injected\r\n",  # space in a header name
    b"Set-Cookie injected=1\r\n",  # no colon
    b": injected\r\n",  # empty name
]


@pytest.mark.parametrize("line", INJECTIONS, ids=range(len(INJECTIONS)))
def test_control_characters_in_headers_are_refused(gateway: GatewayHandle, line: bytes) -> None:
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + f"Authorization: Bearer {gateway.keys['alice']}\r\n".encode()
        + f"Content-Length: {len(_OK)}\r\n".encode()
        + line
        + b"\r\n"
        + _OK
    )
    response = raw_exchange(gateway.url, request)
    assert response.status is None or response.status == 400, response
    assert_not_injected(response)
    assert_still_serving(gateway)


def assert_not_injected(response: RawResponse) -> None:
    assert response.header("set-cookie") is None, response.headers
    assert all("injected" not in v for _, v in response.headers), response.headers


@pytest.mark.parametrize(
    "target",
    [
        b"/v1/models\rSet-Cookie: injected=1",
        b"/v1/models\nSet-Cookie: injected=1",
        b"/v1/models\r\nSet-Cookie: injected=1",
        b"/v1/models HTTP/1.1\r\nSet-Cookie: injected=1\r\nX:",
    ],
    ids=["cr", "lf", "crlf", "crlf-version"],
)
def test_line_breaks_in_the_request_line_inject_nothing(
    gateway: GatewayHandle, target: bytes
) -> None:
    """The parser may refuse these (400) or split the line (bare LF ends a line in HTTP/1.1
    parsers that are lenient, as RFC 9112 allows); either way nothing reaches the answer."""
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    response = raw_exchange(gateway.url, request)
    assert response.status is None or 400 <= response.status < 500, response
    if response.header("x-request-id") is not None:
        assert_raw_envelope(response, response.status or 0)
    assert_not_injected(response)
    assert_still_serving(gateway)


CANARY = "evil-canary"
HOSTILE_HEADERS = {
    "x-request-id": f"{CANARY}",
    "x-correlation-id": CANARY,
    "user-agent": f"{CANARY}/1.0 (Set-Cookie: injected=1; <script>)",
    "cookie": f"session={CANARY}",
    "origin": f"https://{CANARY}.example",
    "referer": f"https://{CANARY}.example/",
    "x-forwarded-for": f"{CANARY}, 203.0.113.9",
    "x-forwarded-host": f"{CANARY}.example",
    "x-forwarded-proto": "https",
    "host": f"{CANARY}.example",
    "accept": f"text/{CANARY}",
    "accept-language": CANARY,
    "traceparent": f"00-{CANARY}-01",
}


def test_client_values_are_never_reflected_into_response_headers(
    gateway: GatewayHandle, client: httpx.Client
) -> None:
    key = bearer(gateway)
    sent = [
        ("POST", "/v1/chat/completions", key, _OK),
        ("POST", "/v1/chat/completions", key, body(stream=True)),
        ("POST", "/v1/chat/completions", key, b"{not json"),
        ("POST", "/v1/chat/completions", {"authorization": f"Bearer {CANARY}"}, _OK),
        ("GET", "/v1/chat/completions", key, b""),
        ("GET", "/v1/models", key, b""),
        ("GET", "/v1/models/", key, b""),
        ("GET", f"/v1/{CANARY}", key, b""),
        ("GET", "/v1/%22%3E%3Cscript%3Einjected%3C%2Fscript%3E", key, b""),
        ("GET", "/healthz", {}, b""),
    ]
    responses = []
    for method, path, auth, content in sent:
        r = client.request(method, path, headers={**HOSTILE_HEADERS, **auth}, content=content)
        assert r.status_code < 500, (path, r.status_code)
        where = f"{method} {path} -> {r.status_code}"
        assert "set-cookie" not in r.headers, where
        assert "location" not in r.headers, where
        assert "access-control-allow-origin" not in r.headers, where
        for name, value in r.headers.items():
            assert CANARY not in value and "injected" not in value, (where, name, value)
        if path.startswith("/v1/") and not (method == "GET" and r.status_code == 200):
            assert REQUEST_ID.fullmatch(r.headers["x-request-id"]), (where, r.headers)
        if r.status_code >= 400:
            assert_envelope(r, r.status_code)  # the path may be echoed, but only inside JSON
        responses.append(r)
    events = assert_one_event_each(gateway, responses)
    for event in events:
        assert REQUEST_ID.fullmatch(event["request_id"])
        assert event["ip"] == "127.0.0.1", "X-Forwarded-For from an untrusted peer is ignored"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("user-agent", "u" * 64 * 1024),
        ("user-agent", "u" * 1024 * 1024),
        ("x-padding", "p" * 1024 * 1024),
        ("authorization", "Bearer " + "k" * 1024 * 1024),
    ],
    ids=["ua-64k", "ua-1m", "other-1m", "auth-1m"],
)
def test_very_long_header_is_answered_and_survived(
    gateway: GatewayHandle, name: str, value: str
) -> None:
    """Either the HTTP parser refuses it (4xx, or closes) or the gateway answers as usual."""
    headers = {**bearer(gateway), name: value}
    request = raw_request(
        "POST", "/v1/chat/completions", {**headers, "Content-Length": str(len(_OK))}, _OK
    )
    response = raw_exchange(gateway.url, request)
    assert response.status is None or response.status in (200, 400, 401, 413, 414, 431), response
    if response.status is not None and response.status >= 400 and response.header("x-request-id"):
        assert_raw_envelope(response, response.status)
    if name == "authorization":
        assert response.status != 200
    assert_still_serving(gateway)


def test_many_headers_are_answered_and_survived(gateway: GatewayHandle) -> None:
    headers = {f"x-h{i}": "v" for i in range(5000)}
    request = raw_request("GET", "/v1/models", {**bearer(gateway), **headers})
    response = raw_exchange(gateway.url, request)
    assert response.status is None or response.status in (200, 400, 431), response
    assert_still_serving(gateway)
