"""The official openai client, sync and async, streaming and not, against a running gateway."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from conftest import CONVERSATIONS, GatewayHandle

MODEL = "replay-sharegpt"
PROMPT = CONVERSATIONS[3].turns[0].text
ANSWER = CONVERSATIONS[3].turns[1].text


def _client(gw: GatewayHandle, account: str, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.keys[account], **kw)  # type: ignore[arg-type]


def test_sync_non_streaming_answer_arrives_intact(gateway: GatewayHandle) -> None:
    with _client(gateway, "alice") as client:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}]
        )
    assert completion.choices[0].message.content == ANSWER
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_sync_streaming_answer_arrives_intact(gateway: GatewayHandle) -> None:
    with _client(gateway, "alice") as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    # The gateway asked the upstream for usage; the client did not, so it must not see it.
    assert all(c.usage is None for c in chunks)


def test_stream_usage_only_when_asked(gateway: GatewayHandle) -> None:
    with _client(gateway, "alice") as client:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert all(c.usage is None for c in chunks[:-1])


async def test_async_client_streaming_and_not(gateway: GatewayHandle) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.keys["bob"]) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}]
        )
        assert completion.choices[0].message.content == ANSWER
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(parts) == ANSWER
        models = await client.models.list()
        assert MODEL in [m.id for m in models.data]


def test_unknown_key_is_authentication_error(gateway: GatewayHandle) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="dg-wrong-key-1234567890")
    with client, pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"


def test_revoked_key_is_refused_without_restart(gateway: GatewayHandle, tmp_path: object) -> None:
    from distillguard.store.keys import KeyStore

    with _client(gateway, "bob") as client:
        client.models.list()
        with KeyStore(gateway.config.auth.keys_db) as store:
            store.revoke(gateway.key_ids["bob"])
        deadline = time.monotonic() + 5
        while True:
            try:
                client.models.list()
            except openai.AuthenticationError:
                break
            assert time.monotonic() < deadline, "revoked key still accepted after 5 s"
            time.sleep(0.05)


def test_blocked_account_is_permission_denied_and_not_retried(gateway: GatewayHandle) -> None:
    with (
        _client(gateway, "mallory", max_retries=3) as client,
        pytest.raises(openai.PermissionDeniedError) as info,
    ):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 403
    body = info.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    time.sleep(0.2)
    mallory = [e for e in gateway.events() if e["account_id"] == "mallory"]
    assert len(mallory) == 1, "a 403 must not be retried by the SDK"
    assert mallory[0]["decision"]["action"] == "block"
    assert "response" not in mallory[0]


def test_rate_limit_is_rate_limit_error_with_retry_after(gateway: GatewayHandle) -> None:
    messages: list[dict[str, str]] = [{"role": "user", "content": "classify this"}]
    with _client(gateway, "carol", max_retries=0) as client:
        for _ in range(3):
            client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    retry_after = float(info.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60


def test_sdk_honours_retry_after(gateway: GatewayHandle) -> None:
    """With retries on, the SDK waits Retry-After and then succeeds once the bucket refills."""
    messages: list[dict[str, str]] = [{"role": "user", "content": "classify this"}]
    with _client(gateway, "carol", max_retries=0) as client:
        for _ in range(3):
            client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    with _client(gateway, "carol", max_retries=2) as client:
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
        )
        waited = time.monotonic() - started
    assert raw.http_response.status_code == 200
    # 3 requests/minute refill one every 20 s; the SDK must have waited (not hammered) for it.
    assert waited >= 15
    carol = [e for e in gateway.events() if e["account_id"] == "carol"]
    throttled = [e for e in carol if (e.get("decision") or {}).get("action") == "throttle"]
    assert 1 <= len(throttled) <= 2


def test_upstream_down_is_502(tmp_path: object, replay_url: str) -> None:
    from pathlib import Path

    from conftest import gateway_config, running_gateway
    from distillguard.procs import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    config = gateway_config(Path(str(tmp_path)), dead)
    with running_gateway(config) as gw, _client(gw, "alice", max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 502
        with pytest.raises(openai.APIStatusError) as info2:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
            )
        assert info2.value.status_code == 502
    events = gw.events()
    assert [e["response"]["status"] for e in events] == [502, 502]


def test_upstream_500_becomes_502(gateway: GatewayHandle) -> None:
    with (
        _client(gateway, "alice", max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as info,
    ):
        client.chat.completions.create(
            model="replay-error-500", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 502


def test_raw_http_errors_use_the_envelope(gateway: GatewayHandle) -> None:
    headers = {"authorization": f"Bearer {gateway.keys['alice']}"}
    r = httpx.post(gateway.base_url + "/chat/completions", content=b"{not json", headers=headers)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"
