"""A stand-in for a real model: an OpenAI-compatible server that replays ShareGPT answers.

It is used for demos, tests and benchmarks so that the gateway has something realistic to
protect without GPUs or API keys. It generates nothing: every answer is an assistant turn
recorded in a human/assistant conversation from the ShareGPT dump. A prompt that matches a
recorded user turn (ignoring case and whitespace) gets the reply that followed it; any other
prompt gets a recorded answer chosen by a stable hash of its text, so the same request always
receives the same answer, in every process.

Logprobs, when asked for, are synthetic: deterministic made-up values over made-up
~4-character tokens, present only so clients that request them get the OpenAI shape.

Reasoning: a model id containing "reason" (``replay-reasoning``) also "thinks", so that
countermeasures aimed at chain-of-thought harvesting can be tested end to end. Its raw reasoning
is derived from the answer (one "Step k:" per sentence), sent as ``message.reasoning_content``
or streamed as ``delta.reasoning_content`` before the answer, counted in
``usage.completion_tokens_details.reasoning_tokens``, and, as on real reasoning models, it
spends the ``max_tokens`` budget before the answer does. Any such id works; /v1/models lists it
only when ``ReplaySettings.models`` names it.

Test hook: the model id ``replay-error-500`` answers 500 with an OpenAI error envelope, so
gateway tests can simulate an upstream failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import math
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from distillguard.data.sharegpt import (
    Conversation,
    estimate_tokens,
    load_conversations,
    truncate_to_tokens,
)

__all__ = [
    "ERROR_500_MODEL",
    "HELP",
    "REASONING_MODEL",
    "ReplaySettings",
    "create_replay_app",
    "reasoning_for",
    "run_replay",
]

HELP: Final = (
    "Run a stand-in for a real model, for demos, tests and benchmarks: an OpenAI-compatible "
    "server that replays assistant answers recorded in ShareGPT human/assistant conversations. "
    "It does not generate anything."
)

ERROR_500_MODEL: Final = "replay-error-500"
REASONING_MODEL: Final = "replay-reasoning"  # any model id containing "reason" thinks
OWNER: Final = "distillguard-replay"
MAX_CHOICES: Final = 16  # as many as the gateway allows
MAX_TOP_LOGPROBS: Final = 20

_PSEUDO_TOKENS: Final = re.compile(r"\s*\S{1,4}|\s+")
# Plausible runners-up for synthetic top_logprobs.
_ALTERNATIVES: Final = (
    " the", " a", ",", ".", " and", " to", " of", " in", " is", " that", " it", " for",
    "\n", " you", " with", " on", " as", " this", " be", " are", " can", " or", " an", ":",
)  # fmt: skip
_SENTENCES: Final = re.compile(r"(?<=[.!?])\s+|\n+")
_MAX_STEPS: Final = 12  # reasoning steps drawn from the answer's sentences
_JSON: Final = "application/json"
_SSE_FLUSH_BYTES: Final = 4096


@dataclass(frozen=True)
class ReplaySettings:
    """How the stand-in (replaying, non-generating) upstream behaves.

    The defaults answer as fast as possible; latency and chunk delay make it feel like a model.
    """

    conversations: int = 2000  # how many ShareGPT conversations to load
    latency_ms: float = 0.0  # added before the first byte of every response
    chunk_delay_ms: float = 0.0  # between stream chunks; > 0 lets clients leave mid-stream
    model: str = "replay-sharegpt"  # default model id, and the first one listed
    models: tuple[str, ...] = ()  # extra model ids listed by /v1/models
    max_answer_chars: int | None = None  # shorten every recorded answer (cheaper benchmarks)
    words_per_chunk: int = 4  # stream granularity

    def __post_init__(self) -> None:
        if self.conversations < 1:
            raise ValueError("conversations must be >= 1")
        if self.latency_ms < 0 or self.chunk_delay_ms < 0:
            raise ValueError("latency_ms and chunk_delay_ms must be >= 0")
        if self.max_answer_chars is not None and self.max_answer_chars < 1:
            raise ValueError("max_answer_chars must be >= 1 or None")
        if self.words_per_chunk < 1:
            raise ValueError("words_per_chunk must be >= 1")


@dataclass(frozen=True, slots=True)
class _AnswerBook:
    """Recorded answers, indexed by a digest of the normalised user turn they replied to."""

    answers: tuple[str, ...]
    by_prompt: Mapping[bytes, int]

    @classmethod
    def build(cls, conversations: Sequence[Conversation], max_chars: int | None) -> _AnswerBook:
        answers: list[str] = []
        by_prompt: dict[bytes, int] = {}
        for conversation in conversations:
            for exchange in conversation.exchanges():
                by_prompt.setdefault(_digest(exchange.prompt), len(answers))
                answers.append(exchange.answer[:max_chars] if max_chars else exchange.answer)
        if not answers:
            raise ValueError("no user turn followed by an assistant turn to replay")
        return cls(answers=tuple(answers), by_prompt=by_prompt)

    def pick(self, prompt: str, n: int) -> list[str]:
        """Choose n answers: the recorded one (or a hashed stand-in) first, then distinct others."""
        digest = _digest(prompt)
        count = len(self.answers)
        first = self.by_prompt.get(digest)
        if first is None:
            first = int.from_bytes(digest[:8], "big") % count
        chosen = [first]
        for index in range(1, n):
            extra = hashlib.blake2b(digest, digest_size=8, salt=index.to_bytes(8, "big"))
            candidate = int.from_bytes(extra.digest(), "big") % count
            for _ in range(count):  # step past repeats while distinct answers remain
                if candidate not in chosen:
                    break
                candidate = (candidate + 1) % count
            chosen.append(candidate)
        return [self.answers[position] for position in chosen]


@dataclass(frozen=True, slots=True)
class _Choice:
    content: str
    finish_reason: str
    logprobs: list[dict[str, Any]] | None
    reasoning: str | None = None  # raw chain-of-thought, from reasoning models only


@dataclass(frozen=True, slots=True)
class _Completion:
    """Everything a request asked for, resolved, before it is rendered as JSON or SSE."""

    id: str
    created: int
    model: str
    choices: list[_Choice]
    prompt_tokens: int
    include_usage: bool

    @property
    def usage(self) -> dict[str, Any]:
        reasoning = [choice.reasoning for choice in self.choices if choice.reasoning is not None]
        thought = sum(estimate_tokens(text) for text in reasoning)
        completion = thought + sum(estimate_tokens(choice.content) for choice in self.choices)
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }
        if reasoning:  # as OpenAI reports it: reasoning is part of the completion tokens
            usage["completion_tokens_details"] = {"reasoning_tokens": thought}
        return usage


class _RequestError(Exception):
    """A client mistake, reported as a 400 OpenAI error envelope."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class _EventStream(StreamingResponse):
    """Skip Starlette's disconnect-watching task when nothing in the stream ever waits."""

    def __init__(self, content: AsyncIterator[bytes], *, watch_disconnect: bool) -> None:
        super().__init__(
            content,
            media_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache"},
        )
        self._watch_disconnect = watch_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._watch_disconnect:
            await super().__call__(scope, receive, send)
        else:
            await self.stream_response(send)


def create_replay_app(
    settings: ReplaySettings, conversations: Sequence[Conversation] | None = None
) -> Starlette:
    """Build the app; loads `settings.conversations` from ShareGPT unless some are given."""
    if conversations is None:
        conversations = load_conversations(settings.conversations)
    book = _AnswerBook.build(conversations, settings.max_answer_chars)
    # A run of up to N words with their trailing space, or leading space on its own.
    chunker = re.compile(rf"(?:\S+\s*){{1,{settings.words_per_chunk}}}|\s+")
    started = int(time.time())
    model_ids = list(dict.fromkeys((settings.model, *settings.models)))
    models_body = orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": started, "owned_by": OWNER}
                for name in model_ids
            ],
        }
    )

    async def chat_completions(request: Request) -> Response:
        try:
            payload = _parse_body(await request.body())
            if payload.get("model") == ERROR_500_MODEL:
                return _error(
                    500, "Simulated upstream failure.", type_="server_error", code=ERROR_500_MODEL
                )
            completion = _complete(payload, book, settings)
        except _RequestError as error:
            return _error(400, error.message, param=error.param)
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        if payload.get("stream") is True:
            return _EventStream(
                _stream(completion, chunker, settings),
                watch_disconnect=settings.chunk_delay_ms > 0,
            )
        return Response(orjson.dumps(_render(completion)), media_type=_JSON)

    async def list_models(request: Request) -> Response:
        return Response(models_body, media_type=_JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error."
        return _error(status, str(detail), code=str(status))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )


def run_replay(host: str, port: int, settings: ReplaySettings) -> None:
    """Serve the stand-in upstream with uvicorn, on its fastest installed loop and parser."""
    import uvicorn

    has = importlib.util.find_spec
    uvicorn.run(
        create_replay_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        http="httptools" if has("httptools") else "auto",
        loop="uvloop" if has("uvloop") else "auto",
    )


def _digest(prompt: str) -> bytes:
    """Stable across processes (unlike hash()), and blind to case and whitespace differences."""
    normalised = " ".join(prompt.split()).casefold()
    return hashlib.blake2b(normalised.encode(), digest_size=16).digest()


def _error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Response:
    envelope = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(orjson.dumps(envelope), status_code=status, media_type=_JSON)


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _RequestError(f"The request body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise _RequestError("The request body must be a JSON object.")
    return payload


def _complete(payload: dict[str, Any], book: _AnswerBook, settings: ReplaySettings) -> _Completion:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _RequestError("'messages' must be a non-empty array.", "messages")
    texts = [_message_text(message, position) for position, message in enumerate(messages)]
    prompt = next(
        (
            text
            for text, message in zip(reversed(texts), reversed(messages), strict=True)
            if message.get("role") == "user"
        ),
        texts[-1],
    )
    model = payload.get("model") or settings.model
    if not isinstance(model, str):
        raise _RequestError("'model' must be a string.", "model")
    n = _int_option(payload, "n", 1, 1, MAX_CHOICES)
    limit = payload.get("max_completion_tokens")
    param = "max_completion_tokens"
    if limit is None:
        limit, param = payload.get("max_tokens"), "max_tokens"
    max_tokens = None if limit is None else _int_option(payload, param, 1, 1, 2**31)
    top = _int_option(payload, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS)
    with_logprobs = payload.get("logprobs") is True or payload.get("top_logprobs") is not None
    options = payload.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    thinks = "reason" in model.casefold()
    choices = []
    for answer in book.pick(prompt, n):
        reasoning = thought = reasoning_for(prompt, answer) if thinks else None
        budget = max_tokens
        if thought is not None and budget is not None:  # reasoning spends the budget first
            thought = truncate_to_tokens(thought, budget)
            budget -= estimate_tokens(thought)
        content = answer if budget is None else truncate_to_tokens(answer, budget)
        cut = len(content) < len(answer) or thought != reasoning
        choices.append(
            _Choice(
                content=content,
                finish_reason="length" if cut else "stop",
                logprobs=_synthetic_logprobs(content, top) if with_logprobs else None,
                reasoning=thought,
            )
        )
    return _Completion(
        id=f"chatcmpl-{secrets.token_hex(12)}",
        created=int(time.time()),
        model=model,
        choices=choices,
        prompt_tokens=sum(estimate_tokens(text) for text in texts),
        include_usage=include_usage,
    )


def reasoning_for(prompt: str, answer: str) -> str:
    """Deterministic stand-in chain-of-thought: the answer's sentences restated as steps.

    It resembles real raw reasoning where it matters to a distiller (longer than the answer,
    step by step, ending on the conclusion) without generating anything.
    """
    asked = " ".join(prompt.split())[:160] or "(no question)"
    sentences = [" ".join(part.split()) for part in _SENTENCES.split(answer)]
    sentences = [sentence for sentence in sentences if sentence][:_MAX_STEPS]
    steps = [f"Step 1: The user asks: {asked}. Work out what a good answer must cover."]
    steps += [f"Step {k}: Point to make: {s}" for k, s in enumerate(sentences, 2)]
    steps.append(f"Step {len(steps) + 1}: Check every point is covered, then write the answer.")
    return "\n".join(steps)


def _message_text(message: object, position: int) -> str:
    """Text of one message; content may be a string, a list of typed parts, or null."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise _RequestError(
            "Each message must be an object with a 'role'.", f"messages[{position}]"
        )
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    raise _RequestError(
        "'content' must be a string or an array of parts.", f"messages[{position}].content"
    )


def _int_option(payload: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = payload.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _RequestError(f"'{name}' must be an integer from {low} to {high}.", name)
    return value


def _synthetic_logprobs(content: str, top: int) -> list[dict[str, Any]]:
    """Deterministic fake logprobs over made-up ~4-char tokens.

    The sampled token is always the most likely one and the listed probabilities sum to at
    most 1, so the values look plausible to anything that inspects them.
    """
    entries: list[dict[str, Any]] = []
    for position, token in enumerate(_PSEUDO_TOKENS.findall(content)):
        seed = hashlib.blake2b(f"{position}:{token}".encode(), digest_size=8).digest()
        chosen = 0.2 + 0.79 * int.from_bytes(seed, "big") / 2**64
        ranked = [_logprob_entry(token, math.log(chosen))]
        offset = seed[0]
        runners_up = (
            _ALTERNATIVES[(offset + step) % len(_ALTERNATIVES)]
            for step in range(len(_ALTERNATIVES))
        )
        for rank, alternative in enumerate((alt for alt in runners_up if alt != token), 1):
            if rank >= top:
                break
            ranked.append(_logprob_entry(alternative, math.log((1 - chosen) * 0.5**rank)))
        entries.append({**ranked[0], "top_logprobs": ranked[:top]})
    return entries


def _logprob_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _render(completion: _Completion) -> dict[str, Any]:
    return {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": [
            {
                "index": index,
                "message": _message(choice),
                "finish_reason": choice.finish_reason,
                "logprobs": _logprobs_field(choice.logprobs),
            }
            for index, choice in enumerate(completion.choices)
        ],
        "usage": completion.usage,
    }


def _message(choice: _Choice) -> dict[str, Any]:
    message = {"role": "assistant", "content": choice.content}
    if choice.reasoning is not None:
        message["reasoning_content"] = choice.reasoning
    return message


def _logprobs_field(entries: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    return None if entries is None else {"content": entries, "refusal": None}


async def _stream(
    completion: _Completion, chunker: re.Pattern[str], settings: ReplaySettings
) -> AsyncIterator[bytes]:
    """Yield SSE bytes. With a chunk delay every event is its own send, after a pause, as a
    model would stream; without one, events are batched into few sends to keep this cheap."""
    delay = settings.chunk_delay_ms / 1000
    pending: list[bytes] = []
    size = 0
    lines = _sse_lines(completion, chunker, settings.words_per_chunk)
    for position, line in enumerate(lines):
        if delay > 0:
            if position > 0:
                await asyncio.sleep(delay)
            yield line
            continue
        pending.append(line)
        size += len(line)
        if size >= _SSE_FLUSH_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    pending.append(b"data: [DONE]\n\n")
    yield b"".join(pending)


def _sse_lines(
    completion: _Completion, chunker: re.Pattern[str], words_per_chunk: int
) -> Iterator[bytes]:
    """One `data:` line per chunk object.

    Content chunks are the bulk of a stream, so they are spliced from a pre-serialised prefix
    and suffix around the JSON-encoded text instead of building and dumping a dict each time.
    """
    head = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model,
    }
    head_json = orjson.dumps(head)[:-1]  # without the closing brace
    suffix = b'},"logprobs":null,"finish_reason":null}]}\n\n'
    for index, choice in enumerate(completion.choices):
        opening = b"data: " + head_json + b',"choices":[{"index":%d,"delta":{' % index
        prefix = opening + b'"content":'
        yield _line(_chunk(head, index, {"role": "assistant", "content": ""}))
        if choice.reasoning is not None:  # a reasoning model thinks before it answers
            for text in chunker.findall(choice.reasoning):
                yield opening + b'"reasoning_content":' + orjson.dumps(text) + suffix
        if choice.logprobs is None:
            for text in chunker.findall(choice.content):
                yield prefix + orjson.dumps(text) + suffix
        else:
            # Logprob entries are per pseudo-token, so chunks group those instead of words.
            entries = choice.logprobs
            for start in range(0, len(entries), words_per_chunk):
                group = entries[start : start + words_per_chunk]
                delta = {"content": "".join(entry["token"] for entry in group)}
                yield _line(_chunk(head, index, delta, logprobs=group))
        yield _line(_chunk(head, index, {}, finish_reason=choice.finish_reason))
    if completion.include_usage:
        yield _line({**head, "choices": [], "usage": completion.usage})


def _line(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def _chunk(
    head: dict[str, Any],
    index: int,
    delta: dict[str, Any],
    *,
    finish_reason: str | None = None,
    logprobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    choice = {
        "index": index,
        "delta": delta,
        "logprobs": _logprobs_field(logprobs),
        "finish_reason": finish_reason,
    }
    return {**head, "choices": [choice]}
