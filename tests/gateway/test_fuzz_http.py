"""Fuzz the HTTP surface of a running gateway from the OpenAPI document it serves.

schemathesis generates requests from ``/openapi.json``, both valid ones (positive) and ones that
break the schema (negative: wrong types, missing fields, broken auth). With the replay upstream
behind the gateway nothing legitimate can fail upstream, so the property is strict: no 5xx at
all, every error in the OpenAI envelope, and exactly one event per request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import GatewayHandle, gateway_config, running_gateway

pytestmark = pytest.mark.slow

# Per operation and mode. Generating a chat request from the schema costs ~0.15 s (schemathesis
# resolves every oneOf and constraint), so chat gets fewer examples to keep the file under 60 s.
MAX_EXAMPLES = {"/v1/chat/completions": 75, "/v1/models": 100}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
ENVELOPE_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, replay_url: str) -> Iterator[GatewayHandle]:
    """One gateway for the whole module: the fuzzers send hundreds of requests."""
    config = gateway_config(Path(tmp_path_factory.mktemp("fuzz-http")), replay_url)
    with running_gateway(config, ("fuzzer",)) as handle:
        yield handle


@pytest.fixture(scope="module")
def schema(live: GatewayHandle) -> BaseSchema:
    return schemathesis.openapi.from_url(live.url + "/openapi.json")


def check_envelope(status: int, content_type: str, content: bytes) -> None:
    """Every error body is exactly the OpenAI envelope."""
    assert status < 500, (status, content[:500])
    if status < 400:
        return
    assert content_type.startswith("application/json"), (status, content_type, content[:200])
    payload = json.loads(content)
    assert isinstance(payload, dict) and list(payload) == ["error"], payload
    error = payload["error"]
    assert isinstance(error, dict) and set(error) == ENVELOPE_KEYS, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["type"], str) and error["type"], error


def wait_for_event_count(gw: GatewayHandle, expected: int, timeout: float = 3.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = len(gw.events())
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(
    ("path", "method"), [("/v1/chat/completions", "POST"), ("/v1/models", "GET")]
)
def test_schema_fuzzing_finds_no_server_error(
    live: GatewayHandle, schema: BaseSchema, path: str, method: str, mode: GenerationMode
) -> None:
    operation = schema[path][method]
    auth = {"Authorization": f"Bearer {live.keys['fuzzer']}"}
    before = len(live.events())
    sent: list[int] = []

    @settings(FUZZ, max_examples=MAX_EXAMPLES[path])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        response = case.call(headers=auth, timeout=15)
        sent.append(response.status_code)
        content_type = (response.headers.get("content-type") or [""])[0]
        check_envelope(response.status_code, content_type, response.content)
        checks = [not_a_server_error, status_code_conformance, content_type_conformance]
        if content_type.startswith("application/json"):
            # The document describes an SSE body only as a string; schemathesis would validate
            # each parsed event against that, so streamed bodies skip the schema check.
            checks.append(response_schema_conformance)
        case.validate_response(response, checks=checks, headers=auth)

    run()
    assert len(sent) >= MAX_EXAMPLES[path] // 2, "the fuzzer barely ran"
    if mode is GenerationMode.POSITIVE:
        assert 200 in sent, "no valid request got through: the fuzzer only exercised refusals"
    else:
        assert any(400 <= s < 500 for s in sent), "negative data was never refused"
    # Every request the fuzzer sent is one event: none lost, none doubled.
    assert wait_for_event_count(live, before + len(sent)) == before + len(sent)


# --- raw bodies over HTTP, which a schema-driven fuzzer never sends -----------------------------

VALID = {"model": "replay-sharegpt", "messages": [{"role": "user", "content": "hi"}]}
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "field", "message"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(JUNK)).encode()
    body: dict[str, Any] = json.loads(json.dumps(VALID))
    if kind == "field":
        body[draw(st.sampled_from(["model", "messages", "n", "max_tokens", "temperature"]))] = draw(
            JUNK
        )
    else:
        body["messages"][0][draw(st.sampled_from(["role", "content", "name"]))] = draw(JUNK)
    return json.dumps(body).encode()


def test_raw_body_fuzzing_finds_no_server_error(live: GatewayHandle) -> None:
    before = len(live.events())
    sent: list[int] = []
    with httpx.Client(base_url=live.url, timeout=15) as client:
        auth = {"authorization": f"Bearer {live.keys['fuzzer']}"}

        @settings(FUZZ, max_examples=150)
        @given(
            content=raw_bodies(),
            content_type=st.sampled_from(
                ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
            ),
        )
        def run(content: bytes, content_type: str) -> None:
            headers = {**auth, "content-type": content_type} if content_type else auth
            r = client.post("/v1/chat/completions", content=content, headers=headers)
            sent.append(r.status_code)
            check_envelope(r.status_code, r.headers.get("content-type", ""), r.content)
            if r.status_code >= 400:
                assert r.headers["x-request-id"].startswith("req_")

        run()
    assert 200 in sent and 400 in sent, sent
    assert wait_for_event_count(live, before + len(sent)) == before + len(sent)
