"""The replay upstream's reasoning models: raw chain-of-thought in the shapes providers use,
so countermeasures against reasoning harvesting can be tested end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from distillguard.data.sharegpt import Conversation, Turn
from distillguard.tokens import estimate_tokens
from distillguard.upstream.replay import (
    REASONING_MODEL,
    ReplaySettings,
    create_replay_app,
    reasoning_for,
)

PROMPT = "Explain recursion briefly."
ANSWER = (
    "Recursion is when a function calls itself on a smaller piece of the problem. "
    "It stops at a base case it can answer directly! Then it combines the results."
)
OTHER = "Hi there. Nice to meet you."


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    conversations = [
        Conversation("c0", (Turn("user", PROMPT), Turn("assistant", ANSWER))),
        Conversation("c1", (Turn("user", "Say hi."), Turn("assistant", OTHER))),
    ]
    app = create_replay_app(ReplaySettings(models=(REASONING_MODEL,)), conversations)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://replay"
    ) as http:
        yield http


async def _post(client: httpx.AsyncClient, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], **extra}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def _chunks(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.text.endswith("data: [DONE]\n\n")
    blocks = [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]
    return [orjson.loads(block) for block in blocks[:-1]]


def test_reasoning_restates_the_answer_as_steps_deterministically() -> None:
    reasoning = reasoning_for(PROMPT, ANSWER)

    lines = reasoning.split("\n")
    assert reasoning == reasoning_for(PROMPT, ANSWER)
    assert lines[0].startswith(f"Step 1: The user asks: {PROMPT}")
    assert lines[1:4] == [
        "Step 2: Point to make: Recursion is when a function calls itself on a smaller piece "
        "of the problem.",
        "Step 3: Point to make: It stops at a base case it can answer directly!",
        "Step 4: Point to make: Then it combines the results.",
    ]
    assert lines[-1].startswith("Step 5: Check")
    assert len(reasoning) > len(ANSWER)
    assert len(reasoning_for("q", "One. " * 100).split("\n")) == 14  # 12 sentences at most


async def test_reasoning_model_answers_with_reasoning_content_and_counts_it(
    client: httpx.AsyncClient,
) -> None:
    plain = (await _post(client, "replay-sharegpt")).json()
    thinking = (await _post(client, "my-Reasoner-v2")).json()  # any id containing "reason"

    assert plain["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert "completion_tokens_details" not in plain["usage"]
    message = thinking["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": ANSWER,
        "reasoning_content": reasoning_for(PROMPT, ANSWER),
    }
    usage = thinking["usage"]
    reasoning_tokens = estimate_tokens(message["reasoning_content"])
    assert usage["completion_tokens_details"] == {"reasoning_tokens": reasoning_tokens}
    assert usage["completion_tokens"] == estimate_tokens(ANSWER) + reasoning_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_stream_sends_reasoning_before_the_answer(client: httpx.AsyncClient) -> None:
    plain = (await _post(client, REASONING_MODEL)).json()
    chunks = _chunks(
        await _post(client, REASONING_MODEL, stream=True, stream_options={"include_usage": True})
    )

    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    kinds = [next(iter(delta), "") for delta in deltas]
    assert deltas[0] == {"role": "assistant", "content": ""}
    first_content = kinds.index("content", 1)
    assert set(kinds[1:first_content]) == {"reasoning_content"}
    assert "reasoning_content" not in kinds[first_content:]
    assert len(kinds[1:first_content]) > 1  # streamed in pieces, as a model would
    message = plain["choices"][0]["message"]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == message["reasoning_content"]
    assert "".join(d.get("content", "") for d in deltas) == message["content"]
    assert chunks[-1]["usage"] == plain["usage"]


async def test_reasoning_spends_the_token_budget_first(client: httpx.AsyncClient) -> None:
    reasoning_tokens = estimate_tokens(reasoning_for(PROMPT, ANSWER))
    starved = (await _post(client, REASONING_MODEL, max_completion_tokens=10)).json()
    short = (await _post(client, REASONING_MODEL, max_tokens=reasoning_tokens + 5)).json()

    [choice] = starved["choices"]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == ""
    assert reasoning_for(PROMPT, ANSWER).startswith(choice["message"]["reasoning_content"])
    assert starved["usage"]["completion_tokens"] <= 10
    assert short["choices"][0]["finish_reason"] == "length"
    assert ANSWER.startswith(short["choices"][0]["message"]["content"])
    assert 0 < len(short["choices"][0]["message"]["content"]) < len(ANSWER)
    assert short["usage"]["completion_tokens"] <= reasoning_tokens + 5


async def test_each_choice_reasons_about_its_own_answer(client: httpx.AsyncClient) -> None:
    result = (await _post(client, REASONING_MODEL, n=2)).json()

    for choice in result["choices"]:
        message = choice["message"]
        assert message["reasoning_content"] == reasoning_for(PROMPT, message["content"])
    total = sum(
        estimate_tokens(choice["message"]["reasoning_content"]) for choice in result["choices"]
    )
    assert result["usage"]["completion_tokens_details"]["reasoning_tokens"] == total


async def test_models_lists_the_reasoning_model_when_named(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()

    assert [model["id"] for model in listing["data"]] == ["replay-sharegpt", REASONING_MODEL]


async def test_openai_sdk_reads_reasoning_and_its_usage(client: httpx.AsyncClient) -> None:
    http_client: Any = client  # see test_replay.py: typed against another httpx generation
    async with openai.AsyncOpenAI(
        base_url="http://replay/v1", api_key="x", http_client=http_client, max_retries=0
    ) as sdk:
        completion = await sdk.chat.completions.create(
            model=REASONING_MODEL, messages=[{"role": "user", "content": PROMPT}]
        )

    message = completion.choices[0].message
    assert message.content == ANSWER
    assert (message.model_extra or {})["reasoning_content"] == reasoning_for(PROMPT, ANSWER)
    assert completion.usage is not None and completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == estimate_tokens(
        reasoning_for(PROMPT, ANSWER)
    )
