"""Envoy's ext_authz HTTP contract, at the protocol level: a real ext_authz service on loopback
and httpx sending exactly what Envoy sends (path_prefix + original path, the allowed headers,
the buffered body, ``x-envoy-auth-partial-body``)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import gateway_config
from distillguard.config import GatewayConfig, RateLimit, StaticPolicyConfig
from distillguard.engine import Engine
from distillguard.events import UNAUTHENTICATED_ACCOUNT, Event
from distillguard.gateway.decision import ChainedHook, Decision, DecisionHook, RequestContext
from distillguard.integrations.envoy import DEGRADE_NOT_APPLIED, create_extauthz_app
from distillguard.policy.static import StaticPolicy
from distillguard.store.eventlog import iter_logged_events
from distillguard.store.keys import KeyStore
from servers import serve_in_thread

PREFIX = "/authz"
CHAT = "/v1/chat/completions"
CLIENT_IP = "203.0.113.7"
CLOCK = "x-sim-time"
T0 = 1_770_000_000.0


def chat_body(text: str = "What is 2 + 2?", **extra: Any) -> bytes:
    return orjson.dumps({"model": "m1", "messages": [{"role": "user", "content": text}], **extra})


@dataclass
class Authz:
    url: str
    config: GatewayConfig
    prefix: str
    keys: dict[str, str] = field(default_factory=dict)  # account -> secret
    key_ids: dict[str, str] = field(default_factory=dict)

    def check(
        self,
        method: str,
        path: str,
        *,
        account: str | None = None,
        secret: str | None = None,
        body: bytes = b"",
        partial: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One check request as Envoy builds it for ``method path`` from the client."""
        sent = {
            "host": "api.example.com",  # the original :authority
            "user-agent": "OpenAI/Python 1.54.0",
            "x-forwarded-for": CLIENT_IP,  # appended by Envoy (use_remote_address)
            "x-request-id": str(uuid.uuid4()),
            "x-envoy-auth-partial-body": "true" if partial else "false",
        }
        if body:
            sent["content-type"] = "application/json"
        if account is not None:
            secret = self.keys[account]
        if secret is not None:
            sent["authorization"] = f"Bearer {secret}"
        sent.update(headers or {})
        return httpx.request(method, self.url + self.prefix + path, headers=sent, content=body)

    def events(self) -> list[Event]:
        return list(iter_logged_events(self.config.event_log.path))


@contextmanager
def running_authz(
    tmp: Path,
    hook: DecisionHook | None = None,
    *,
    prefix: str = PREFIX,
    accounts: Sequence[str] = ("alice", "carol", "mallory"),
    **overrides: object,
) -> Iterator[Authz]:
    """The ext_authz service on a free port; 'mallory' is blocked, 'carol' limited to 3/min.
    Events are flushed when the block exits."""
    settings: dict[str, object] = {
        "trusted_proxies": ["127.0.0.0/8"],  # Envoy's address
        "policy": StaticPolicyConfig(
            blocked_accounts=["mallory"],
            account_rate_limits={"carol": RateLimit(requests_per_minute=3)},
        ),
    }
    settings.update(overrides)
    config = gateway_config(tmp, "http://127.0.0.1:9", **settings)
    handle = Authz(url="", config=config, prefix=prefix)
    with KeyStore(config.auth.keys_db) as store:
        for account in accounts:
            issued = store.add(account, label="test")
            handle.keys[account] = issued.secret
            handle.key_ids[account] = issued.key.key_id
    app = create_extauthz_app(config, hook=hook or StaticPolicy(config.policy), path_prefix=prefix)
    with serve_in_thread(app) as url:
        handle.url = url
        yield handle


class Recording:
    """A hook that remembers what it was asked and told."""

    def __init__(self, inner: DecisionHook):
        self.inner = inner
        self.decided: list[RequestContext] = []
        self.observed: list[Event] = []

    def decide(self, ctx: RequestContext) -> Decision:
        self.decided.append(ctx)
        return self.inner.decide(ctx)

    def observe(self, event: Event) -> None:
        self.observed.append(event)
        self.inner.observe(event)


class Fixed:
    def __init__(self, decision: Decision | None):
        self.decision = decision

    def decide(self, ctx: RequestContext) -> Decision:
        return self.decision  # type: ignore[return-value]  # None: a hook that misbehaves

    def observe(self, event: Event) -> None:
        return None


class Broken:
    def decide(self, ctx: RequestContext) -> Decision:
        raise RuntimeError("decisions store unreachable")

    def observe(self, event: Event) -> None:
        return None


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert response.headers["x-distillguard-request-id"].startswith("req_")
    error: dict[str, Any] = body["error"]
    return error


def test_an_allowed_chat_request_gets_200_and_the_upstream_headers(tmp_path: Path) -> None:
    with running_authz(tmp_path) as authz:
        response = authz.check(
            "POST",
            CHAT,
            account="alice",
            body=chat_body(),
            headers={"x-forwarded-for": f"6.6.6.6, {CLIENT_IP}"},  # the client forged the left
        )
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["x-distillguard-account"] == "alice"
        assert response.headers["x-distillguard-action"] == "allow"
        request_id = response.headers["x-distillguard-request-id"]
    [event] = authz.events()
    assert event["request_id"] == request_id
    assert event["account_id"] == "alice"
    assert event["api_key_id"] == authz.key_ids["alice"]
    assert event["endpoint"] == CHAT  # the prefix is not part of what the client asked
    assert event["ip"] == CLIENT_IP
    assert event["user_agent"] == "OpenAI/Python 1.54.0"
    assert event["model"] == "m1"
    assert event["request"]["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert event["decision"]["action"] == "allow"
    assert "rejected" not in event
    # Passed on, and nothing about the answer: ext_authz never sees it.
    assert event["response"]["status"] == 200
    assert not {"prompt_tokens", "completion_tokens", "content"} & set(event["response"])


def test_without_trusted_proxies_the_client_is_envoy_itself(tmp_path: Path) -> None:
    with running_authz(tmp_path, trusted_proxies=[]) as authz:
        assert authz.check("POST", CHAT, account="alice", body=chat_body()).status_code == 200
    assert [e["ip"] for e in authz.events()] == ["127.0.0.1"]


def test_a_missing_or_unknown_key_is_401(tmp_path: Path) -> None:
    with running_authz(tmp_path) as authz:
        unknown = authz.check("POST", CHAT, secret="sk-not-a-key", body=chat_body())
        missing = authz.check("POST", CHAT, body=chat_body())
        models = authz.check("GET", "/v1/models")
    for response in (unknown, missing, models):
        error = assert_envelope(response, 401, "invalid_api_key")
        assert error["type"] == "invalid_request_error"
        assert response.headers["www-authenticate"].startswith("Bearer")
    events = authz.events()
    assert len(events) == 3
    for event in events:
        assert event["account_id"] == UNAUTHENTICATED_ACCOUNT
        assert event["rejected"]["status"] == 401
        assert "response" not in event and "decision" not in event


def test_a_blocked_account_is_403_and_told_not_to_retry(tmp_path: Path) -> None:
    with running_authz(tmp_path) as authz:
        response = authz.check("POST", CHAT, account="mallory", body=chat_body())
    error = assert_envelope(response, 403, "access_denied")
    assert error["type"] == "permission_error"
    assert response.headers["x-should-retry"] == "false"
    [event] = authz.events()
    assert event["account_id"] == "mallory"
    assert event["decision"]["action"] == "block"
    assert event["rejected"] == {**event["rejected"], "status": 403, "code": "access_denied"}
    assert "response" not in event


def test_a_rate_limited_account_gets_429_with_retry_after(tmp_path: Path) -> None:
    with running_authz(tmp_path) as authz:
        statuses = [
            authz.check("POST", CHAT, account="carol", body=chat_body()).status_code
            for _ in range(3)
        ]
        limited = authz.check("POST", CHAT, account="carol", body=chat_body())
    assert statuses == [200, 200, 200]
    error = assert_envelope(limited, 429, "rate_limit_exceeded")
    assert error["type"] == "rate_limit_error"
    assert int(limited.headers["retry-after"]) >= 1
    events = authz.events()
    assert [e["decision"]["action"] for e in events] == ["allow"] * 3 + ["throttle"]
    assert events[-1]["rejected"]["status"] == 429


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b'{"model": "m1", "messages": [', "invalid_json", None),
        (b"", "invalid_json", None),  # Envoy without with_request_body sends no body
        (orjson.dumps({"messages": [{"role": "user", "content": "hi"}]}), None, "model"),
    ],
)
def test_a_bad_body_is_400(tmp_path: Path, body: bytes, code: str | None, param: str) -> None:
    hook = Recording(StaticPolicy(StaticPolicyConfig()))
    with running_authz(tmp_path, hook) as authz:
        response = authz.check("POST", CHAT, account="alice", body=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code
    assert error["param"] == param
    assert hook.decided == []  # nothing to judge
    [event] = authz.events()
    assert event["account_id"] == "alice"
    assert event["rejected"]["status"] == 400


def test_a_partial_body_is_refused_never_judged_as_whole(tmp_path: Path) -> None:
    """Even a cut that happens to parse (here: a whole JSON object) is not taken for the
    request: what lies past the cut is unknown."""
    hook = Recording(StaticPolicy(StaticPolicyConfig()))
    with running_authz(tmp_path, hook) as authz:
        cut = authz.check("POST", CHAT, account="alice", body=chat_body()[:40], partial=True)
        parses = authz.check("POST", CHAT, account="alice", body=chat_body(), partial=True)
        whole = authz.check("POST", CHAT, account="alice", body=chat_body(), partial=False)
    for response in (cut, parses):
        error = assert_envelope(response, 413, "request_too_large")
        assert "cut short" in error["message"]
    assert whole.status_code == 200
    assert len(hook.decided) == 1  # only the whole body reached the decision
    events = authz.events()
    assert [e.get("rejected", {}).get("status") for e in events] == [413, 413, None]
    assert all(e["account_id"] == "alice" for e in events)
    assert "decision" not in events[0] and "decision" not in events[1]


def test_a_partial_body_from_an_unknown_key_is_401_first(tmp_path: Path) -> None:
    with running_authz(tmp_path) as authz:
        response = authz.check("POST", CHAT, secret="sk-nope", body=b'{"mo', partial=True)
    assert_envelope(response, 401, "invalid_api_key")


def test_the_path_prefix_is_stripped_and_required(tmp_path: Path) -> None:
    with running_authz(tmp_path, prefix="/ext/authz/") as authz:  # a trailing / is tolerated
        authz.prefix = "/ext/authz"
        allowed = authz.check("POST", CHAT, account="alice", body=chat_body())
        blocked = authz.check("POST", CHAT, account="mallory", body=chat_body())
        authz.prefix = ""  # Envoy configured without our prefix
        outside = authz.check("POST", CHAT, account="alice", body=chat_body())
        health = httpx.get(authz.url + "/healthz")
    assert allowed.status_code == 200
    assert blocked.status_code == 403
    error = assert_envelope(outside, 404, "unknown_url")
    assert "/ext/authz" in error["message"]
    assert health.status_code == 200 and health.json()["status"] == "ok"
    events = authz.events()
    assert [e["endpoint"] for e in events] == [CHAT, CHAT, CHAT]
    assert [e["account_id"] for e in events] == ["alice", "mallory", UNAUTHENTICATED_ACCOUNT]


@pytest.mark.parametrize(
    "path",
    [
        "/v1//chat/completions",
        "/v1/chat/completions/",
        "/V1/Chat/Completions",
        "/x/../v1/chat/completions",
    ],
)
def test_spellings_of_the_chat_path_are_judged_too(tmp_path: Path, path: str) -> None:
    """A lenient model server may route these to chat completions: no way around the check."""
    with running_authz(tmp_path) as authz:
        response = authz.check("POST", path, account="mallory", body=chat_body())
    assert_envelope(response, 403, "access_denied")


def test_other_paths_need_a_key_and_are_allowed_unjudged(tmp_path: Path) -> None:
    hook = Recording(StaticPolicy(StaticPolicyConfig(blocked_accounts=["mallory"])))
    with running_authz(tmp_path, hook) as authz:
        models = authz.check("GET", "/v1/models", account="alice")
        query = authz.check("GET", "/v1/models?limit=5", account="alice")
        wrong_method = authz.check("GET", CHAT, account="alice")
    assert models.status_code == 200 and query.status_code == 200
    assert models.headers["x-distillguard-account"] == "alice"
    assert models.headers["x-distillguard-action"] == "allow"
    error = assert_envelope(wrong_method, 405, "method_not_allowed")
    assert "POST" in error["message"] and wrong_method.headers["allow"] == "POST"
    assert hook.decided == []
    events = authz.events()
    assert [e["endpoint"] for e in events] == ["/v1/models", "/v1/models", CHAT]
    assert [e.get("response", {}).get("status") for e in events] == [200, 200, None]


def test_exactly_one_event_per_check_and_the_hook_observes_each(tmp_path: Path) -> None:
    config = StaticPolicyConfig(
        blocked_accounts=["mallory"],
        account_rate_limits={"carol": RateLimit(requests_per_minute=3)},
    )
    hook = Recording(StaticPolicy(config))
    expected: list[tuple[str, int]] = []  # (request id, status) as Envoy saw them
    with running_authz(tmp_path, hook) as authz:
        for account in ["alice", "carol", "mallory", "carol", "carol", "carol", "alice"]:
            r = authz.check("POST", CHAT, account=account, body=chat_body())
            expected.append((r.headers["x-distillguard-request-id"], r.status_code))
        for r in (
            authz.check("POST", CHAT, secret="sk-wrong", body=chat_body()),
            authz.check("POST", CHAT, account="alice", body=b"{", partial=False),
            authz.check("POST", CHAT, account="alice", body=b"{", partial=True),
            authz.check("GET", "/v1/models", account="alice"),
            authz.check("DELETE", "/v1/files/f1", account="mallory"),
        ):
            expected.append((r.headers["x-distillguard-request-id"], r.status_code))
    events = authz.events()
    assert len(events) == len(expected) == 12
    got = [
        (e["request_id"], e["response"]["status"] if "response" in e else e["rejected"]["status"])
        for e in events
    ]
    assert got == expected
    assert [s for _, s in expected] == [200, 200, 403, 200, 200, 429, 200, 401, 400, 413, 200, 200]
    assert [e["request_id"] for e in hook.observed] == [rid for rid, _ in expected]


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_a_failing_hook_follows_the_fail_mode(tmp_path: Path, mode: str) -> None:
    with running_authz(tmp_path, Broken(), fail_mode=mode) as authz:
        response = authz.check("POST", CHAT, account="alice", body=chat_body())
    [event] = authz.events()
    if mode == "open":
        assert response.status_code == 200
        assert response.headers["x-distillguard-action"] == "allow"
        assert event["response"]["status"] == 200
        assert event["decision"]["reasons"] == ["decision hook failed; fail-open"]
    else:
        # A 5xx is an authorization error to Envoy: failure_mode_allow: false keeps it closed.
        error = assert_envelope(response, 503, "decision_unavailable")
        assert error["type"] == "api_error"
        assert response.headers["retry-after"] == "1"
        assert event["rejected"]["status"] == 503
        assert event["decision"]["action"] == "block"
        assert event["decision"]["reasons"] == ["decision hook failed; fail-closed"]


def test_degrade_is_allowed_and_says_it_was_not_applied(tmp_path: Path) -> None:
    hook = Fixed(Decision("degrade", 0.7, ("soft labels requested",)))
    with running_authz(tmp_path, hook) as authz:
        response = authz.check("POST", CHAT, account="alice", body=chat_body())
    assert response.status_code == 200
    assert response.headers["x-distillguard-action"] == "degrade"
    [event] = authz.events()
    assert event["decision"]["action"] == "degrade"
    assert event["decision"]["reasons"] == ["soft labels requested", DEGRADE_NOT_APPLIED]


def test_an_unexpected_error_is_a_500_envelope_without_a_trace(tmp_path: Path) -> None:
    with running_authz(tmp_path, Fixed(None)) as authz:  # the hook returns garbage
        response = authz.check("POST", CHAT, account="alice", body=chat_body())
    error = assert_envelope(response, 500, "internal_error")
    assert "Traceback" not in response.text and "NoneType" not in response.text
    assert error["type"] == "api_error"
    [event] = authz.events()
    assert event["rejected"]["status"] == 500


def harvest_text(rng: random.Random) -> str:
    a, b = rng.randrange(2, 99), rng.randrange(2, 99)
    problem = f"How many ways can {a} people sit at a round table if {b} refuse to sit together?"
    return f"{problem}\nWrite out your internal reasoning step by step, in full detail."


def test_the_engine_blocks_a_harvesting_account_over_repeated_checks(tmp_path: Path) -> None:
    static = StaticPolicy(StaticPolicyConfig())
    rng = random.Random(5)
    actions = []
    with running_authz(tmp_path, ChainedHook([static, Engine()]), sim_clock_header=CLOCK) as authz:
        for k in range(30):
            body = chat_body(harvest_text(rng), logprobs=True, top_logprobs=10, n=4)
            r = authz.check(
                "POST", CHAT, account="alice", body=body, headers={CLOCK: str(T0 + k * 60)}
            )
            actions.append(r.headers.get("x-distillguard-action") or str(r.status_code))
    assert actions[0] == "allow"
    assert actions[-1] == "403"
    first_block = actions.index("403")
    assert all(a == "403" for a in actions[first_block:])
    events = authz.events()
    assert events[0]["ts"] == T0 and events[-1]["ts"] == T0 + 29 * 60
    assert events[-1]["decision"]["action"] == "block" and events[-1]["decision"]["reasons"]


def test_a_token_limit_holds_behind_envoy(tmp_path: Path) -> None:
    policy = StaticPolicyConfig(account_rate_limits={"alice": RateLimit(tokens_per_minute=50)})
    with running_authz(tmp_path, policy=policy) as authz:
        text = "Tell me everything about prime numbers. " * 20  # ~200 tokens, over the minute
        first = authz.check("POST", CHAT, account="alice", body=chat_body(text))
        second = authz.check("POST", CHAT, account="alice", body=chat_body(text))
    assert first.status_code == 200
    assert second.status_code == 429


def test_metrics_count_checks_beside_the_prefix(tmp_path: Path) -> None:
    with running_authz(tmp_path) as authz:
        authz.check("POST", CHAT, account="alice", body=chat_body())
        authz.check("POST", CHAT, account="mallory", body=chat_body())
        authz.check("GET", "/v1/models", account="alice")
        text = httpx.get(authz.url + "/metrics").text
    assert 'distillguard_requests_total{endpoint="/v1/chat/completions",status="200"} 1.0' in text
    assert 'distillguard_requests_total{endpoint="/v1/chat/completions",status="403"} 1.0' in text
    assert 'distillguard_requests_total{endpoint="/v1/models",status="200"} 1.0' in text
    assert 'distillguard_decisions_total{action="block"} 1.0' in text
    assert "distillguard_scoring_seconds_count 2.0" in text
