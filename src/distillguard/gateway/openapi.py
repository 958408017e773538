"""The OpenAPI document the gateway serves: what it accepts, for clients and for fuzzers."""

from __future__ import annotations

from typing import Any

from distillguard.config import LimitsConfig

_ERROR = {
    "description": "An error in the OpenAI error envelope.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}

_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
}
_IMAGE_PART = {
    "type": "object",
    "required": ["type", "image_url"],
    "properties": {
        "type": {"type": "string", "enum": ["image_url"]},
        "image_url": {"type": "object", "properties": {"url": {"type": "string"}}},
    },
}
_CONTENT_PART = {"oneOf": [_TEXT_PART, _IMAGE_PART]}

_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _CONTENT_PART}]},
        "name": {"type": "string"},
    },
}


def _chat_request(limits: LimitsConfig) -> dict[str, Any]:
    """The request schema, with the same bounds the validator enforces."""
    return {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "messages": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_messages,
                "items": _MESSAGE,
            },
            "n": {"type": "integer", "minimum": 1, "maximum": limits.max_n},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": limits.max_tokens},
            "max_completion_tokens": {
                "type": "integer",
                "minimum": 1,
                "maximum": limits.max_tokens,
            },
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "stream": {"type": "boolean"},
            "stop": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "maxItems": 4, "items": {"type": "string"}},
                ]
            },
            "seed": {"type": "integer"},
            "user": {"type": "string"},
            "tools": {"type": "array", "items": {"type": "object"}},
        },
        "description": (
            "Also accepted: logprobs with top_logprobs (top_logprobs requires logprobs: true), "
            "stream_options (only with stream: true), tool and function messages."
        ),
    }


def openapi_document(limits: LimitsConfig | None = None) -> dict[str, Any]:
    limits = limits or LimitsConfig()
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "distillguard gateway",
            "version": "1",
            "description": "An OpenAI-compatible gateway that records and screens every request.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ErrorResponse": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["message", "type", "param", "code"],
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "param": {"type": "string", "nullable": True},
                                "code": {"type": "string", "nullable": True},
                            },
                        }
                    },
                },
                "ChatCompletionRequest": _chat_request(limits),
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/chat/completions": {
                "post": {
                    "operationId": "createChatCompletion",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "A chat.completion object, or an SSE stream of chunks.",
                            "content": {
                                "application/json": {"schema": {"type": "object"}},
                                "text/event-stream": {},
                            },
                        },
                        **{
                            code: _ERROR
                            for code in ("400", "401", "403", "413", "429", "502", "503", "504")
                        },
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "responses": {
                        "200": {
                            "description": "The models the upstream serves.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "401": _ERROR,
                        "502": _ERROR,
                        "504": _ERROR,
                    },
                }
            },
        },
    }
