"""The LiteLLM guardrail: its hooks driven with real LiteLLM objects, then the real LiteLLM
proxy (a subprocess with the guardrail in its config.yaml) in front of the replay upstream,
driven by the official OpenAI client."""

from __future__ import annotations

import os
import secrets

# LiteLLM fetches its model price map from GitHub when imported; tests stay offline.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from pydantic import BaseModel

for _module in ("litellm", "fastapi"):  # fastapi comes with LiteLLM's proxy extra
    pytest.importorskip(_module, reason="the LiteLLM guardrail needs `pip install litellm[proxy]`")

from fastapi import HTTPException  # noqa: E402
from litellm.caching.dual_cache import DualCache  # noqa: E402
from litellm.proxy._types import UserAPIKeyAuth  # noqa: E402
from litellm.types.utils import ModelResponse, ModelResponseStream  # noqa: E402

from distillguard.config import ConfigError  # noqa: E402
from distillguard.countermeasures.degrade import DegradeOptions  # noqa: E402
from distillguard.events import Event  # noqa: E402
from distillguard.gateway.decision import Decision, RequestContext  # noqa: E402
from distillguard.integrations.litellm_guardrail import (  # noqa: E402
    DEGRADE_NOT_APPLIED,
    DistillguardGuardrail,
    identity_of,
)
from distillguard.procs import free_port, stop, wait_ready  # noqa: E402
from distillguard.store.decisions import DecisionStore  # noqa: E402
from distillguard.store.eventlog import iter_logged_events  # noqa: E402

# LiteLLM's own types make pydantic warn when their schema is first built; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Item .* using the `ReadOnly` qualifier:UserWarning")

MODES = ["pre_call", "post_call"]
GUARDRAIL_PATH = "distillguard.integrations.litellm_guardrail.DistillguardGuardrail"
ALICE = UserAPIKeyAuth(
    api_key="sk-alice",
    team_id="acme",
    user_id="alice",
    org_id="org-1",
    key_alias="alice-laptop",
    end_user_id="shopper-9",
    metadata={"distillguard": {"country": "NL"}},
)


def dumped(model: BaseModel) -> dict[str, Any]:
    """``model_dump`` through pydantic's typed signature (LiteLLM overrides it untyped)."""
    return model.model_dump()


def write_config(tmp: Path, **sections: Any) -> Path:
    """A distillguard YAML with its event log in ``tmp``; ``sections`` are merged in."""
    config = {"event_log": {"path": "events.sqlite", "flush_interval_ms": 50}, **sections}
    path = tmp / "distillguard.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def events_in(tmp: Path) -> list[Event]:
    return list(iter_logged_events(tmp / "events.sqlite"))


@pytest.fixture
def guards(tmp_path: Path) -> Iterator[list[DistillguardGuardrail]]:
    """Guardrails made by a test; closed (event log flushed) at its end."""
    made: list[DistillguardGuardrail] = []
    yield made
    for guard in made:
        guard.close()


def make_guard(
    guards: list[DistillguardGuardrail], config: Path, **kwargs: Any
) -> DistillguardGuardrail:
    guard = DistillguardGuardrail(
        distillguard_config=str(config),
        guardrail_name="distillguard",
        event_hook=MODES,
        default_on=True,
        **kwargs,
    )
    guards.append(guard)
    return guard


def chat_data(content: str = "What is 2 plus 2?", **body: Any) -> dict[str, Any]:
    """A request as LiteLLM's proxy hands it to pre-call hooks (the fields we read)."""
    client = {"model": "replay-sharegpt", "messages": [{"role": "user", "content": content}]}
    client.update(body)
    return {
        **client,
        "litellm_call_id": "call-1",
        "metadata": {"requester_ip_address": "203.0.113.7", "user_agent": "pytest-client"},
        "proxy_server_request": {
            "url": "http://127.0.0.1:4000/v1/chat/completions",
            "body": dict(client),
        },
    }


def completion(*, reasoning: str | None = None, logprobs: Any = None) -> ModelResponse:
    message: dict[str, Any] = {"role": "assistant", "content": "4."}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
        message["thinking_blocks"] = [{"type": "thinking", "thinking": reasoning}]
    details = {"reasoning_tokens": 7} if reasoning else None
    return ModelResponse(
        id="chatcmpl-1",
        model="replay-sharegpt",
        choices=[{"index": 0, "message": message, "finish_reason": "stop", "logprobs": logprobs}],
        usage={
            "prompt_tokens": 9,
            "completion_tokens": 12,
            "total_tokens": 21,
            "completion_tokens_details": details,
        },
    )


async def pre_call(
    guard: DistillguardGuardrail,
    data: dict[str, Any],
    user: UserAPIKeyAuth = ALICE,
    call_type: str = "acompletion",
) -> dict[str, Any]:
    return await guard.async_pre_call_hook(user, DualCache(), data, call_type)


@dataclass
class Fixed:
    """A decision hook that always answers the same (and counts what it observed)."""

    decision: Decision
    observed: int = 0

    def decide(self, ctx: RequestContext) -> Decision:
        return self.decision

    def observe(self, event: Event) -> None:
        self.observed += 1


class Broken:
    def decide(self, ctx: RequestContext) -> Decision:
        raise RuntimeError("scoring is down")

    def observe(self, event: Event) -> None:
        pass


# identity ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("team", "user", "account"),
    [("acme", "alice", "team:acme"), (None, "alice", "user:alice"), (None, None, "key:")],
)
def test_account_is_team_then_user_then_key(
    team: str | None, user: str | None, account: str
) -> None:
    caller = UserAPIKeyAuth(api_key="sk-some-key", key_alias="ci", team_id=team, user_id=user)
    who = identity_of(caller)
    assert who.account_id.startswith(account)
    assert who.api_key_id and "sk-some-key" not in who.api_key_id  # LiteLLM's hash, not the key
    if account == "key:":
        assert who.account_id == "key:" + who.api_key_id
    assert who.account_meta["litellm_key_alias"] == "ci"


def test_org_end_user_and_admin_metadata_go_to_account_meta() -> None:
    user = UserAPIKeyAuth(
        api_key="sk-k",
        team_id="acme",
        org_id="org-1",
        end_user_id="shopper-9",
        team_metadata={"distillguard": {"country": "DE", "signup_channel": "sales"}},
        metadata={"distillguard": {"country": "NL"}, "unrelated": 1},
    )
    meta = identity_of(user).account_meta
    assert meta == {
        "country": "NL",  # the key's own setting wins over its team's
        "signup_channel": "sales",
        "litellm_org_id": "org-1",
        "litellm_team_id": "acme",
        "litellm_end_user_id": "shopper-9",
    }
    assert identity_of(None).account_id == "(unauthenticated)"


# the hooks, with LiteLLM's objects ----------------------------------------------------------
async def test_allowed_request_is_answered_and_recorded_once(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path))
    data = await pre_call(guard, chat_data(user="shopper-9"))
    answer = completion()
    assert await guard.async_post_call_success_hook(data, ALICE, answer) is answer
    # LiteLLM may still report a failure later (a response hook, the client): no second event.
    await guard.async_post_call_failure_hook(data, RuntimeError("late"), ALICE)
    guard.close()
    (event,) = events_in(tmp_path)
    assert event["account_id"] == "team:acme"
    assert event["api_key_id"] == ALICE.token
    assert event["ip"] == "203.0.113.7" and event["user_agent"] == "pytest-client"
    assert event["endpoint"] == "/v1/chat/completions" and event["model"] == "replay-sharegpt"
    assert event["request"] == chat_data(user="shopper-9")["proxy_server_request"]["body"]
    assert event["account_meta"]["litellm_end_user_id"] == "shopper-9"
    assert event["account_meta"]["country"] == "NL"
    response = event["response"]
    assert response["status"] == 200 and response["content"] == "4."
    assert (response["prompt_tokens"], response["completion_tokens"]) == (9, 12)
    assert event["decision"]["action"] == "allow"


async def test_blocked_and_throttled_accounts_are_refused_as_openai_does(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    policy = {
        "blocked_accounts": ["team:acme"],
        "account_rate_limits": {"user:bob": {"requests_per_minute": 1}},
    }
    guard = make_guard(guards, write_config(tmp_path, policy=policy))
    with pytest.raises(HTTPException) as blocked:
        await pre_call(guard, chat_data())
    assert blocked.value.status_code == 403
    assert blocked.value.headers == {"x-should-retry": "false"}
    assert isinstance(blocked.value.detail, dict)
    assert blocked.value.detail["error"]["code"] == "access_denied"

    bob = UserAPIKeyAuth(api_key="sk-bob", user_id="bob")
    data = await pre_call(guard, chat_data(), bob)
    await guard.async_post_call_success_hook(data, bob, completion())
    with pytest.raises(HTTPException) as throttled:
        await pre_call(guard, chat_data(), bob)
    assert throttled.value.status_code == 429
    assert throttled.value.headers is not None
    assert int(throttled.value.headers["retry-after"]) >= 1
    guard.close()
    outcomes = [
        (e["account_id"], (e.get("rejected") or e.get("response") or {}).get("status"))
        for e in events_in(tmp_path)
    ]
    assert outcomes == [("team:acme", 403), ("user:bob", 200), ("user:bob", 429)]
    assert [e["decision"]["action"] for e in events_in(tmp_path)] == [
        "block",
        "allow",
        "throttle",
    ]


async def test_a_call_that_fails_after_it_was_allowed_is_recorded(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path))
    data = await pre_call(guard, chat_data())
    upstream = HTTPException(status_code=502, detail="the model server is down")
    assert await guard.async_post_call_failure_hook(data, upstream, ALICE) is None
    guard.close()
    (event,) = events_in(tmp_path)
    assert event["response"]["status"] == 502
    assert event["response"]["error"]["code"] == "HTTPException"


async def test_client_cannot_point_the_hooks_at_another_request(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path))
    first = await pre_call(guard, chat_data())
    forged = chat_data()
    forged["metadata"]["distillguard_request_id"] = first["metadata"]["distillguard_request_id"]
    second = await pre_call(guard, forged)
    assert (
        second["metadata"]["distillguard_request_id"]
        != first["metadata"]["distillguard_request_id"]
    )
    await guard.async_post_call_success_hook(second, ALICE, completion())
    await guard.async_post_call_success_hook(first, ALICE, completion())
    guard.close()
    assert len({e["request_id"] for e in events_in(tmp_path)}) == 2


async def test_requests_never_reported_back_are_finished_as_abandoned(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path), max_in_flight=2)
    for _ in range(3):
        await pre_call(guard, chat_data())
    guard.close()
    (event,) = events_in(tmp_path)
    assert event["response"]["error"]["code"] == "abandoned"


@pytest.mark.parametrize(("mode", "status"), [("closed", 503), ("open", None)])
async def test_a_failing_decision_hook_follows_the_fail_mode(
    tmp_path: Path, guards: list[DistillguardGuardrail], mode: str, status: int | None
) -> None:
    guard = make_guard(guards, write_config(tmp_path, fail_mode=mode), hook=Broken())
    if status is None:
        await pre_call(guard, chat_data())
        return
    with pytest.raises(HTTPException) as refused:
        await pre_call(guard, chat_data())
    assert refused.value.status_code == status
    assert refused.value.headers == {"retry-after": "1"}


async def test_invalid_chat_request_is_refused_with_400(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path, limits={"max_n": 2}))
    with pytest.raises(HTTPException) as refused:
        await pre_call(guard, chat_data(n=5))
    assert refused.value.status_code == 400
    guard.close()
    assert events_in(tmp_path)[0]["rejected"]["code"] == "invalid_value"


DEGRADE = Decision("degrade", 0.8, ("harvesting reasoning",), degrade=DegradeOptions())


async def test_degrade_lowers_the_request_and_strips_reasoning_from_the_answer(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    hook = Fixed(DEGRADE)
    guard = make_guard(guards, write_config(tmp_path), hook=hook)
    data = await pre_call(guard, chat_data(logprobs=True, top_logprobs=5, n=3))
    assert "logprobs" not in data and "top_logprobs" not in data
    assert data["n"] == 1 and data["max_completion_tokens"] == 4096
    answer = completion(reasoning="Step 1: add. Step 2: check.", logprobs={"content": []})
    answer._hidden_params = {"model_id": "deployment-7"}
    assert dumped(answer)["choices"][0]["logprobs"] == {"content": []}
    out = await guard.async_post_call_success_hook(data, ALICE, answer)
    assert isinstance(out, ModelResponse)
    message = dumped(out)["choices"][0]
    assert message["message"]["content"] == "4."
    assert "reasoning_content" not in message["message"]
    assert "thinking_blocks" not in message["message"]
    assert message.get("logprobs") is None
    assert out._hidden_params == {"model_id": "deployment-7"}  # LiteLLM's headers need it
    guard.close()
    (event,) = events_in(tmp_path)
    assert event["decision"]["action"] == "degrade"
    assert "reasoning_content" not in event["response"]
    assert event["response"]["reasoning_tokens"] == 0
    assert hook.observed == 1


def stream_of(*deltas: dict[str, Any], usage: bool = True) -> AsyncIterator[ModelResponseStream]:
    async def chunks() -> AsyncIterator[ModelResponseStream]:
        for i, delta in enumerate(deltas):
            finish = "stop" if i == len(deltas) - 1 else None
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            fields: dict[str, Any] = {"id": "c1", "model": "m", "choices": [choice]}
            yield ModelResponseStream(**fields)
        if usage:
            yield ModelResponseStream(
                id="c1",
                model="m",
                choices=[],
                usage={"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13},
            )

    return chunks()


async def drain(stream: AsyncIterator[ModelResponseStream]) -> list[dict[str, Any]]:
    return [dumped(chunk) async for chunk in stream]


async def test_degraded_stream_loses_its_reasoning_and_keeps_its_answer(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path), hook=Fixed(DEGRADE))
    data = await pre_call(guard, chat_data(stream=True))
    upstream = stream_of(
        {"role": "assistant", "reasoning_content": "Step 1: think hard."},
        {"reasoning_content": " Step 2: done."},
        {"content": "The answer "},
        {"content": "is 4."},
    )
    served = await drain(guard.async_post_call_streaming_iterator_hook(ALICE, upstream, data))
    deltas = [c["choices"][0]["delta"] for c in served if c["choices"]]
    assert not any(d.get("reasoning_content") for d in deltas)
    assert "".join(d.get("content") or "" for d in deltas) == "The answer is 4."
    guard.close()
    (event,) = events_in(tmp_path)
    response = event["response"]
    assert response["stream"] is True and response["content"] == "The answer is 4."
    assert response["finish_reason"] == "stop" and response["completion_tokens"] == 8


async def test_plain_stream_passes_untouched_and_a_disconnect_is_recorded(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path))
    data = await pre_call(guard, chat_data(stream=True))
    upstream = stream_of({"content": "one "}, {"content": "two"}, usage=False)
    hooked = guard.async_post_call_streaming_iterator_hook(ALICE, upstream, data)
    first = await anext(hooked)
    assert first.choices[0].delta.content == "one "
    await hooked.aclose()  # the client went away
    guard.close()
    (event,) = events_in(tmp_path)
    assert event["response"]["status"] == 499 and event["response"]["client_disconnected"]
    assert event["response"]["content"] == "one "


async def test_other_call_types_are_judged_but_not_degraded(
    tmp_path: Path, guards: list[DistillguardGuardrail]
) -> None:
    guard = make_guard(guards, write_config(tmp_path), hook=Fixed(DEGRADE))
    data = {"model": "text-embedding", "input": ["some text"], "metadata": {}}
    out = await pre_call(guard, data, call_type="aembedding")
    assert out["input"] == ["some text"] and "max_completion_tokens" not in out
    await guard.async_post_call_success_hook(out, ALICE, {"usage": {"prompt_tokens": 3}})
    guard.close()
    (event,) = events_in(tmp_path)
    assert DEGRADE_NOT_APPLIED in event["decision"]["reasons"]
    assert event["request"] == {"model": "text-embedding", "input": ["some text"]}
    assert event["response"]["prompt_tokens"] == 3


def test_configuration_mistakes_fail_at_start_up(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    with pytest.raises(ConfigError, match="pre_call, post_call"):
        DistillguardGuardrail(distillguard_config=config, event_hook="pre_call")
    with pytest.raises(ConfigError, match="DISTILLGUARD_CONFIG"):
        DistillguardGuardrail(event_hook=MODES)


def test_config_path_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guards: list[DistillguardGuardrail]
) -> None:
    monkeypatch.setenv("DISTILLGUARD_CONFIG", str(write_config(tmp_path)))
    guards.append(DistillguardGuardrail(event_hook=MODES, default_on=True))
    assert (tmp_path / "events.sqlite").exists()


# the real LiteLLM proxy ---------------------------------------------------------------------
CUSTOM_AUTH = """
from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

# Virtual keys need LiteLLM's Postgres; custom auth gives the same identity fields without it.
KEYS = {
    "sk-alice": {"team_id": "acme", "user_id": "alice"},
    "sk-mallory": {"team_id": "evil"},
    "sk-carol": {"user_id": "carol"},
    "sk-umbrella": {"team_id": "umbrella"},
}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key not in KEYS:
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=api_key, key_alias=api_key[3:], **KEYS[api_key])
"""


@dataclass
class Proxy:
    base_url: str
    workdir: Path

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=30)

    def events_of(self, account: str, count: int) -> list[Event]:
        """An account's events, once the guardrail's writer has flushed ``count`` of them."""
        deadline = time.monotonic() + 10
        while True:
            found = [e for e in events_in(self.workdir) if e["account_id"] == account]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, replay_url: str) -> Iterator[Proxy]:
    """``litellm --config`` with the guardrail on, two models on the replay upstream."""
    work = tmp_path_factory.mktemp("litellm")
    (work / "dg_auth.py").write_text(CUSTOM_AUTH, encoding="utf-8")
    decisions = work / "decisions.sqlite"
    with DecisionStore(decisions) as store:
        store.add_action("account", "team:umbrella", "degrade", reason="test", actor="test")
    write_config(
        work,
        policy={
            "blocked_accounts": ["team:evil"],
            "account_rate_limits": {"user:carol": {"requests_per_minute": 1}},
        },
        response={"enabled": True, "decisions_db": str(decisions)},
    )
    models = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": replay_url + "/v1",
                "api_key": "unused",
            },
        }
        for name in ("replay-sharegpt", "replay-reasoning", "replay-error-500")
    ]
    config = {
        "model_list": models,
        "guardrails": [
            {
                "guardrail_name": "distillguard",
                "litellm_params": {
                    "guardrail": GUARDRAIL_PATH,
                    "mode": MODES,
                    "default_on": True,
                    "distillguard_config": str(work / "distillguard.yaml"),
                },
            }
        ],
        "general_settings": {
            "custom_auth": "dg_auth.user_api_key_auth",
            "master_key": "sk-" + secrets.token_hex(32),  # LiteLLM refuses to start without
        },
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "litellm"),
        "--config",
        str(work / "config.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with (work / "litellm.log").open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=out)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout_s=120)
        yield Proxy(f"http://127.0.0.1:{port}/v1", work)
    finally:
        stop(proc)


def ask(proxy: Proxy, key: str, prompt: str, **kwargs: Any) -> Any:
    with proxy.client(key) as client:
        return client.chat.completions.create(
            model=kwargs.pop("model", "replay-sharegpt"),
            messages=[{"role": "user", "content": prompt}],
            **kwargs,
        )


@pytest.mark.slow
def test_litellm_proxy_enforces_and_records(proxy: Proxy) -> None:
    answer = ask(proxy, "sk-alice", "Question number 3: what is 3 plus 3?", user="shopper-1")
    assert answer.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as blocked:
        ask(proxy, "sk-mallory", "Question number 4: what is 4 plus 4?")
    assert blocked.value.type == "permission_error"
    assert isinstance(blocked.value.body, dict)
    assert blocked.value.body["message"] == "This account is not allowed to use the API."
    assert blocked.value.response.headers["x-should-retry"] == "false"
    with proxy.client("sk-mallory") as client, pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="replay-sharegpt", input="another endpoint")
    ask(proxy, "sk-carol", "Question number 5: what is 5 plus 5?")
    with pytest.raises(openai.RateLimitError) as throttled:
        ask(proxy, "sk-carol", "Question number 6: what is 6 plus 6?")
    assert int(throttled.value.response.headers["retry-after"]) >= 1
    with pytest.raises(openai.InternalServerError):
        ask(proxy, "sk-alice", "This one fails upstream.", model="replay-error-500")

    alice = proxy.events_of("team:acme", 2)
    assert [e["response"]["status"] for e in alice] == [200, 500]
    assert alice[0]["response"]["completion_tokens"] > 0
    assert alice[0]["account_meta"]["litellm_end_user_id"] == "shopper-1"
    mallory = proxy.events_of("team:evil", 2)
    assert [e["rejected"]["status"] for e in mallory] == [403, 403]
    assert [e["endpoint"] for e in mallory] == ["/v1/chat/completions", "/v1/embeddings"]
    carol = proxy.events_of("user:carol", 2)
    assert [e["decision"]["action"] for e in carol] == ["allow", "throttle"]


@pytest.mark.slow
def test_litellm_proxy_degrades_reasoning_streamed_or_not(proxy: Proxy) -> None:
    plain = ask(proxy, "sk-alice", "Why is the sky blue?", model="replay-reasoning")
    assert plain.choices[0].message.model_dump().get("reasoning_content")
    degraded = ask(proxy, "sk-umbrella", "Why is the sky blue?", model="replay-reasoning")
    message = degraded.choices[0].message
    assert message.content and not message.model_dump().get("reasoning_content")
    with proxy.client("sk-umbrella") as client:
        stream = client.chat.completions.create(
            model="replay-reasoning",
            messages=[{"role": "user", "content": "Why is grass green?"}],
            stream=True,
        )
        deltas = [c.choices[0].delta.model_dump() for c in stream if c.choices]
    assert "".join(d.get("content") or "" for d in deltas)
    assert not any(d.get("reasoning_content") for d in deltas)
    umbrella = proxy.events_of("team:umbrella", 2)
    assert [e["decision"]["action"] for e in umbrella] == ["degrade", "degrade"]
    assert umbrella[1]["response"]["stream"] is True
