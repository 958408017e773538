from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from starlette.applications import Starlette

from distillguard.data.sharegpt import Conversation, Turn, estimate_tokens
from distillguard.upstream.replay import ERROR_500_MODEL, ReplaySettings, create_replay_app

ANSWERS = {
    "What is the capital of France?": "The capital of France is Paris, a city on the Seine.",
    "Write a haiku about rain.": "Soft rain on the roof\nthe gutters hum\nmorning comes slowly",
    "Explain recursion briefly.": (
        "Recursion is when a function calls itself on a smaller piece of the problem "
        "until it reaches a base case that it can answer directly, then combines results."
    ),
    "Say hi.": "Hi!",
}


def _conversations() -> list[Conversation]:
    conversations = [
        Conversation(id=f"c{i}", turns=(Turn("user", prompt), Turn("assistant", answer)))
        for i, (prompt, answer) in enumerate(ANSWERS.items())
    ]
    conversations.append(
        Conversation(id="sys", turns=(Turn("system", "Be brief."), Turn("user", "unanswered")))
    )
    return conversations


def _app(**overrides: Any) -> Starlette:
    return create_replay_app(ReplaySettings(**overrides), _conversations())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://replay") as http:
        yield http


async def _chat(client: httpx.AsyncClient, prompt: str, **extra: Any) -> dict[str, Any]:
    body = {"model": "replay-sharegpt", "messages": [{"role": "user", "content": prompt}], **extra}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _sse_events(raw: str) -> list[str]:
    assert raw.endswith("data: [DONE]\n\n")
    return [block.removeprefix("data: ") for block in raw.split("\n\n") if block]


async def test_exact_match_returns_the_recorded_answer(client: httpx.AsyncClient) -> None:
    result = await _chat(client, "  what is the CAPITAL of   France? ")

    assert set(result) == {"id", "object", "created", "model", "choices", "usage"}
    assert result["id"].startswith("chatcmpl-")
    assert result["object"] == "chat.completion"
    assert result["model"] == "replay-sharegpt"
    [choice] = result["choices"]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": ANSWERS["What is the capital of France?"]},
        "finish_reason": "stop",
        "logprobs": None,
    }
    usage = result["usage"]
    assert usage["completion_tokens"] == estimate_tokens(choice["message"]["content"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_last_user_message_wins_and_parts_are_joined(client: httpx.AsyncClient) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi!"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Write a haiku"},
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "about rain."},
            ],
        },
    ]
    response = await client.post("/v1/chat/completions", json={"model": "m", "messages": messages})

    result = response.json()
    assert result["model"] == "m"
    assert result["choices"][0]["message"]["content"] == ANSWERS["Write a haiku about rain."]
    expected_prompt = sum(
        estimate_tokens(t)
        for t in ["You are terse.", "Say hi.", "Hi!", "Write a haiku\nabout rain."]
    )
    assert result["usage"]["prompt_tokens"] == expected_prompt


async def test_unknown_prompt_gets_a_deterministic_recorded_answer(
    client: httpx.AsyncClient,
) -> None:
    first = await _chat(client, "Something nobody ever asked.")
    again = await _chat(client, "Something nobody ever asked.")
    other_app = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=other_app, base_url="http://replay") as fresh:
        elsewhere = await _chat(fresh, "Something nobody ever asked.")

    content = first["choices"][0]["message"]["content"]
    assert content in ANSWERS.values()
    assert again["choices"][0]["message"]["content"] == content
    assert elsewhere["choices"][0]["message"]["content"] == content
    assert first["id"] != again["id"]


async def test_max_tokens_truncates_with_finish_reason_length(client: httpx.AsyncClient) -> None:
    prompt = "Explain recursion briefly."
    result = await _chat(client, prompt, max_tokens=5)
    modern = await _chat(client, prompt, max_completion_tokens=5)
    roomy = await _chat(client, prompt, max_tokens=10_000)

    [choice] = result["choices"]
    assert choice["finish_reason"] == "length"
    assert ANSWERS[prompt].startswith(choice["message"]["content"])
    assert 0 < result["usage"]["completion_tokens"] <= 5
    assert modern["choices"] == result["choices"]
    assert roomy["choices"][0]["finish_reason"] == "stop"


async def test_n_returns_distinct_choices(client: httpx.AsyncClient) -> None:
    result = await _chat(client, "Say hi.", n=2)

    contents = [choice["message"]["content"] for choice in result["choices"]]
    assert [choice["index"] for choice in result["choices"]] == [0, 1]
    assert contents[0] == "Hi!"
    assert contents[1] in ANSWERS.values() and contents[1] != "Hi!"
    assert result["usage"]["completion_tokens"] == sum(estimate_tokens(c) for c in contents)


async def test_logprobs_are_synthetic_but_well_formed(client: httpx.AsyncClient) -> None:
    result = await _chat(client, "Say hi.", logprobs=True, top_logprobs=3)
    again = await _chat(client, "Say hi.", logprobs=True, top_logprobs=3)

    entries = result["choices"][0]["logprobs"]["content"]
    assert "".join(entry["token"] for entry in entries) == "Hi!"
    for entry in entries:
        assert entry["logprob"] <= 0
        assert bytes(entry["bytes"]).decode() == entry["token"]
        assert len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert len({alt["token"] for alt in entry["top_logprobs"]}) == 3
    assert again["choices"][0]["logprobs"] == result["choices"][0]["logprobs"]


async def test_stream_reassembles_to_the_non_streamed_answer(client: httpx.AsyncClient) -> None:
    prompt = "Explain recursion briefly."
    plain = await _chat(client, prompt)
    body = {"model": "replay-sharegpt", "messages": [{"role": "user", "content": prompt}]}
    response = await client.post("/v1/chat/completions", json={**body, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(chunks) > 4  # split into several chunks of a few words
    content = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert content == plain["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks[:-1])
    assert all("usage" not in chunk for chunk in chunks)


async def test_include_usage_adds_a_final_usage_chunk(client: httpx.AsyncClient) -> None:
    body = {
        "model": "replay-sharegpt",
        "messages": [{"role": "user", "content": "Say hi."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 1,
    }
    response = await client.post("/v1/chat/completions", json=body)

    chunks = [orjson.loads(event) for event in _sse_events(response.text)[:-1]]
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_chunk_delay_streams_event_by_event() -> None:
    transport = httpx.ASGITransport(app=_app(chunk_delay_ms=1, latency_ms=1))
    async with httpx.AsyncClient(transport=transport, base_url="http://replay") as http:
        plain = await _chat(http, "Explain recursion briefly.")
        response = await http.post(
            "/v1/chat/completions",
            json={
                "messages": [{"role": "user", "content": "Explain recursion briefly."}],
                "stream": True,
            },
        )

    chunks = [orjson.loads(event) for event in _sse_events(response.text)[:-1]]
    content = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert content == plain["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"messages": [{"content": "no role"}]}', "messages[0]"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 0}', "n"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "5"}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 99}', "top_logprobs"),
    ],
)
async def test_bad_requests_get_an_openai_error_envelope(
    client: httpx.AsyncClient, body: bytes, param: str | None
) -> None:
    response = await client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_error_model_simulates_an_upstream_failure(client: httpx.AsyncClient) -> None:
    body = {"model": ERROR_500_MODEL, "messages": [{"role": "user", "content": "x"}]}
    response = await client.post("/v1/chat/completions", json=body)

    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


async def test_unknown_route_uses_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing")

    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_models_lists_default_and_extra_ids() -> None:
    app = _app(models=("gpt-4o-mini", "replay-sharegpt"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://replay"
    ) as http:
        response = await http.get("/v1/models")

    listing = response.json()
    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == ["replay-sharegpt", "gpt-4o-mini"]
    assert all(
        model["object"] == "model" and model["owned_by"] == "distillguard-replay"
        for model in listing["data"]
    )


def test_settings_and_data_are_validated() -> None:
    with pytest.raises(ValueError):
        ReplaySettings(latency_ms=-1)
    with pytest.raises(ValueError):
        create_replay_app(ReplaySettings(), [Conversation("x", (Turn("user", "alone"),))])


async def test_openai_sdk_parses_completions_and_streams() -> None:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()))
    # openai>=3 is typed against httpx2 but still accepts an httpx client at runtime; Any keeps
    # this test valid for both generations of the SDK.
    http_client: Any = http
    async with openai.AsyncOpenAI(
        base_url="http://replay/v1", api_key="x", http_client=http_client, max_retries=0
    ) as sdk:
        completion = await sdk.chat.completions.create(
            model="replay-sharegpt",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
        )
        stream = await sdk.chat.completions.create(
            model="replay-sharegpt",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces: list[str] = []
        usage = None
        async for chunk in stream:
            pieces.extend(choice.delta.content or "" for choice in chunk.choices)
            usage = chunk.usage or usage
        models = await sdk.models.list()
        with pytest.raises(openai.InternalServerError):
            await sdk.chat.completions.create(
                model=ERROR_500_MODEL, messages=[{"role": "user", "content": "x"}]
            )

    assert isinstance(completion, openai.types.chat.ChatCompletion)
    answer = ANSWERS["What is the capital of France?"]
    assert completion.choices[0].message.content == answer
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert "".join(pieces) == answer
    assert usage is not None and usage.total_tokens == completion.usage.total_tokens
    assert [model.id for model in models.data] == ["replay-sharegpt"]
