"""Parse and check a chat.completions request body before anything else touches it.

Bad input must end as a 4xx in the OpenAI error envelope, never as an exception that reaches
the server. The checks follow the OpenAI API's own rules; unknown fields pass through untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from distillguard.config import LimitsConfig
from distillguard.gateway.errors import GatewayError, bad_request
from distillguard.tokens import estimate_tokens

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MAX_STOP = 4


@dataclass(frozen=True, slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    n: int
    max_tokens: int | None
    prompt_tokens_estimate: int


def decode_json_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"The request body is not valid UTF-8 (byte {exc.start}).", code="invalid_encoding"
        ) from exc
    if not text.strip():
        raise bad_request("The request body is empty; send a JSON object.", code="invalid_json")
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"We could not parse the JSON body of your request: {exc}", code="invalid_json"
        ) from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return body


def _int(body: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer.", param=name, code="invalid_type")
    if not lo <= value <= hi:
        raise bad_request(
            f"'{name}' is {value}; it must be between {lo} and {hi}.",
            param=name,
            code="invalid_value",
        )
    return value


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number.", param=name, code="invalid_type")
    if not lo <= value <= hi:
        raise bad_request(
            f"'{name}' is {value}; it must be between {lo} and {hi}.",
            param=name,
            code="invalid_value",
        )


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean.", param=name, code="invalid_type")
    return value


def message_text(content: object) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _check_message(index: int, message: object) -> int:
    """Validate one message; return its estimated tokens."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(f"'{where}' must be an object.", param=where, code="invalid_type")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise bad_request(
            f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.",
            param=f"{where}.role",
            code="invalid_value",
        )
    content = message.get("content")
    if content is None:
        if role not in ("assistant", "function") or not (
            message.get("tool_calls") or message.get("function_call")
        ):
            raise bad_request(
                f"'{where}.content' is required for role '{role}'.",
                param=f"{where}.content",
                code="missing_required_parameter",
            )
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise bad_request(
                    f"'{where}.content[{j}]' must be an object with a string 'type'.",
                    param=f"{where}.content[{j}]",
                    code="invalid_type",
                )
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise bad_request(
                    f"'{where}.content[{j}].text' must be a string.",
                    param=f"{where}.content[{j}].text",
                    code="invalid_type",
                )
    elif not isinstance(content, str):
        raise bad_request(
            f"'{where}.content' must be a string or an array of content parts.",
            param=f"{where}.content",
            code="invalid_type",
        )
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise bad_request(
            f"'{where}.tool_call_id' is required for role 'tool'.",
            param=f"{where}.tool_call_id",
            code="missing_required_parameter",
        )
    return estimate_tokens(message_text(content)) + 4


def parse_chat_request(raw: bytes, limits: LimitsConfig) -> ChatRequest:
    body = decode_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request(
            "'model' is required and must be a non-empty string.",
            param="model",
            code="missing_required_parameter",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request(
            "'messages' is required and must be a non-empty array.",
            param="messages",
            code="missing_required_parameter",
        )
    if len(messages) > limits.max_messages:
        raise bad_request(
            f"'messages' has {len(messages)} items; at most {limits.max_messages} are allowed.",
            param="messages",
            code="invalid_value",
        )
    prompt_tokens = sum(_check_message(i, m) for i, m in enumerate(messages))

    n = _int(body, "n", 1, limits.max_n) or 1
    max_tokens = _int(body, "max_tokens", 1, limits.max_tokens)
    max_completion = _int(body, "max_completion_tokens", 1, limits.max_tokens)
    _number(body, "temperature", 0.0, 2.0)
    _number(body, "top_p", 0.0, 1.0)
    _number(body, "presence_penalty", -2.0, 2.0)
    _number(body, "frequency_penalty", -2.0, 2.0)
    _int(body, "seed", -(2**63), 2**63 - 1)
    stream = _bool(body, "stream")
    logprobs = _bool(body, "logprobs")
    top_logprobs = _int(body, "top_logprobs", 0, limits.max_top_logprobs)
    if top_logprobs is not None and not logprobs:
        raise bad_request("'top_logprobs' requires 'logprobs' to be true.", param="top_logprobs")
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise bad_request("'stream_options' must be an object.", param="stream_options")
        if not stream:
            raise bad_request(
                "'stream_options' is only allowed when 'stream' is true.",
                param="stream_options",
            )
        usage_flag = stream_options.get("include_usage", False)
        if not isinstance(usage_flag, bool):
            raise bad_request(
                "'stream_options.include_usage' must be a boolean.",
                param="stream_options.include_usage",
            )
        include_usage = usage_flag
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (
            isinstance(stop, list)
            and len(stop) <= _MAX_STOP
            and all(isinstance(s, str) for s in stop)
        )
    ):
        raise bad_request(
            f"'stop' must be a string or an array of at most {_MAX_STOP} strings.", param="stop"
        )
    for name in ("tools", "functions"):
        tools = body.get(name)
        if tools is not None and (
            not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)
        ):
            raise bad_request(f"'{name}' must be an array of objects.", param=name)
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise bad_request("'user' must be a string.", param="user")
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        n=n,
        max_tokens=max_completion if max_completion is not None else max_tokens,
        prompt_tokens_estimate=prompt_tokens,
    )


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"The request body exceeds the limit of {limit} bytes.",
        "invalid_request_error",
        "request_too_large",
    )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError as exc:
            raise GatewayError(
                400, "Invalid Content-Length header.", code="invalid_header"
            ) from exc
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
