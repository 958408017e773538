"""Errors on the wire, exactly as the OpenAI API shapes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from starlette.responses import Response


@dataclass(slots=True)
class GatewayError(Exception):
    """A refusal with the HTTP status and OpenAI error fields to send back."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code or self.type}: {self.message}"

    def envelope(self) -> dict[str, dict[str, str | None]]:
        return error_envelope(self.message, self.type, self.code, self.param)

    def to_response(self, extra_headers: Mapping[str, str] | None = None) -> Response:
        headers = dict(self.headers)
        if extra_headers:
            headers.update(extra_headers)
        return Response(
            orjson.dumps(self.envelope()),
            status_code=self.status,
            media_type="application/json",
            headers=headers,
        )


def error_envelope(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, dict[str, str | None]]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code or "invalid_request", param)
