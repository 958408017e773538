"""Every request ends as exactly one event, whatever happens to it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conftest import GatewayHandle, gateway_config, running_gateway
from distillguard.config import UpstreamConfig
from distillguard.events import Event
from distillguard.gateway.decision import Decision, RequestContext
from servers import serve_in_thread

MODEL = "replay-sharegpt"


async def test_concurrent_requests_give_exactly_one_event_each(gateway: GatewayHandle) -> None:
    n = 60
    async with openai.AsyncOpenAI(
        base_url=gateway.base_url, api_key=gateway.keys["alice"], max_retries=0
    ) as client:

        async def one(i: int) -> str:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"Question number {i % 50}: what is it?"}],
                stream=i % 3 == 0,
            )
            if i % 3 == 0:
                async for _ in raw.parse():  # type: ignore[union-attr]
                    pass
            return raw.http_response.headers["x-request-id"]

        request_ids = await asyncio.gather(*(one(i) for i in range(n)))
    events = await asyncio.to_thread(gateway.events_at_least, n)
    assert len(events) == n
    assert sorted(e["request_id"] for e in events) == sorted(request_ids)
    for event in events:
        assert event["account_id"] == "alice"
        assert event["api_key_id"] == gateway.key_ids["alice"]
        assert event["ip"] == "127.0.0.1"
        assert event["user_agent"].startswith("AsyncOpenAI/Python")
        assert event["model"] == MODEL
        assert event["request"]["messages"][0]["role"] == "user"
        assert event["decision"]["action"] == "allow"
        response = event["response"]
        assert response["status"] == 200
        assert response["completion_tokens"] > 0 and response["prompt_tokens"] > 0
        assert response["content"]
        assert response["finish_reason"] == "stop"
    assert sum(1 for e in events if e["response"].get("stream")) == 20


def test_trusted_proxy_header_sets_the_event_ip(tmp_path: Path, replay_url: str) -> None:
    config = gateway_config(tmp_path, replay_url, trusted_proxies=["127.0.0.0/8"])
    with running_gateway(config) as gw:
        headers = {
            "authorization": f"Bearer {gw.keys['alice']}",
            "x-forwarded-for": "6.6.6.6, 198.51.100.23",
        }
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers).is_success
    assert [e["ip"] for e in gw.events()] == ["198.51.100.23"]


def test_untrusted_peer_cannot_spoof_its_ip(gateway: GatewayHandle) -> None:
    headers = {"authorization": f"Bearer {gateway.keys['alice']}", "x-forwarded-for": "1.2.3.4"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gateway.base_url + "/chat/completions", json=body, headers=headers).is_success
    assert [e["ip"] for e in gateway.events_at_least(1)] == ["127.0.0.1"]


class SlowUpstream:
    """An upstream that streams slowly forever, hangs, or breaks a stream, and tells us."""

    def __init__(self) -> None:
        self.stream_closed = threading.Event()
        self.chunks_sent = 0

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            body = await request.json()
            if body["model"] == "hang":
                await asyncio.sleep(5)
            if not body.get("stream"):
                return Response(b'{"choices": []}', media_type="application/json")

            async def endless() -> AsyncIterator[bytes]:
                try:
                    for i in range(10_000):
                        if body["model"] == "break" and i == 3:
                            raise RuntimeError("upstream crashed mid-stream")
                        self.chunks_sent += 1
                        yield (
                            b'data: {"choices":[{"index":0,"delta":{"content":"w%d "}}]}\n\n' % i
                        )
                        await asyncio.sleep(0.02)
                finally:
                    self.stream_closed.set()

            return StreamingResponse(endless(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture
def slow_gateway(tmp_path: Path) -> Iterator[tuple[GatewayHandle, SlowUpstream]]:
    upstream = SlowUpstream()
    with serve_in_thread(upstream.app()) as url:
        config = gateway_config(tmp_path, url)
        config = config.model_copy(
            update={"upstream": UpstreamConfig(base_url=url + "/v1", read_timeout_s=0.5)}
        )
        with running_gateway(config) as gw:
            yield gw, upstream


def test_client_disconnect_mid_stream_cancels_upstream_and_is_recorded(
    slow_gateway: tuple[GatewayHandle, SlowUpstream],
) -> None:
    gw, upstream = slow_gateway
    headers = {"authorization": f"Bearer {gw.keys['alice']}"}
    body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    with (
        httpx.Client() as client,
        client.stream("POST", gw.base_url + "/chat/completions", json=body, headers=headers) as r,
    ):
        lines = r.iter_lines()
        received = [next(lines) for _ in range(5)]
    assert any("w0" in line for line in received)
    assert upstream.stream_closed.wait(3), "the upstream kept generating after the client left"
    assert upstream.chunks_sent < 200
    (event,) = gw.events_at_least(1)
    response = event["response"]
    assert response["client_disconnected"] is True
    assert response["status"] == 499
    assert response["content"].startswith("w0 w1")


def test_upstream_breaking_a_stream_ends_it_with_an_error_event(
    slow_gateway: tuple[GatewayHandle, SlowUpstream],
) -> None:
    gw, _ = slow_gateway
    with (
        openai.OpenAI(base_url=gw.base_url, api_key=gw.keys["alice"], max_retries=0) as client,
        pytest.raises(openai.APIError, match="model server"),
    ):
        for _ in client.chat.completions.create(
            model="break", messages=[{"role": "user", "content": "go"}], stream=True
        ):
            pass
    (event,) = gw.events_at_least(1)
    assert event["response"]["status"] == 502
    assert event["response"]["content"] == "w0 w1 w2 "


def test_upstream_timeout_is_504(slow_gateway: tuple[GatewayHandle, SlowUpstream]) -> None:
    gw, _ = slow_gateway
    with (
        openai.OpenAI(base_url=gw.base_url, api_key=gw.keys["alice"], max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as info,
    ):
        client.chat.completions.create(model="hang", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 504
    (event,) = gw.events_at_least(1)
    assert event["response"]["error"]["code"] == "upstream_timeout"


class BrokenHook:
    def decide(self, ctx: RequestContext) -> Decision:
        raise RuntimeError("decision store unavailable")

    def observe(self, event: Event) -> None:
        raise RuntimeError("decision store unavailable")


@pytest.mark.parametrize("mode, status", [("open", 200), ("closed", 503)])
def test_fail_mode_when_the_hook_fails(
    tmp_path: Path, replay_url: str, mode: str, status: int
) -> None:
    config = gateway_config(tmp_path, replay_url, fail_mode=mode)
    with running_gateway(config, hook=BrokenHook()) as gw:
        headers = {"authorization": f"Bearer {gw.keys['alice']}"}
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers)
        assert r.status_code == status
        if status == 503:
            assert r.json()["error"]["code"] == "decision_unavailable"
            assert r.headers["retry-after"] == "1"
        (event,) = gw.events_at_least(1)
    assert f"fail-{mode}" in event["decision"]["reasons"][0]
    assert ("response" in event) == (mode == "open")


def test_key_metadata_travels_with_events(tmp_path: Path, replay_url: str) -> None:
    from distillguard.store.keys import KeyStore

    config = gateway_config(tmp_path, replay_url)
    meta = {"payment_fingerprint": "pm_abc", "signup_channel": "self_serve"}
    with KeyStore(config.auth.keys_db) as store:
        secret = store.add("acme", account_meta=meta).secret
    with running_gateway(config, accounts=()) as gw:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {secret}"}
        assert httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers).is_success
        (event,) = gw.events_at_least(1)
    assert event["account_meta"] == meta


@pytest.mark.parametrize("configured", [True, False])
def test_simulation_clock_header_only_when_configured(
    tmp_path: Path, replay_url: str, configured: bool
) -> None:
    header = "x-distillguard-sim-time"
    config = gateway_config(tmp_path, replay_url, sim_clock_header=header if configured else None)
    with running_gateway(config) as gw:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {gw.keys['alice']}", header: "1770000000.5"}
        assert httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers).is_success
        (event,) = gw.events_at_least(1)
    if configured:
        assert event["ts"] == 1770000000.5
    else:
        assert abs(event["ts"] - time.time()) < 60  # a client cannot choose its time
