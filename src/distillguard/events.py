"""The request event: one LLM API request as the gateway saw it, with its outcome.

This is the contract every part speaks (``shared/spec/events.schema.json``). Events are plain JSON
objects so unknown fields survive a round trip; this module holds the one implementation of
"is this a valid event" and "when did it happen".
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

Event = dict[str, Any]

UNAUTHENTICATED_ACCOUNT = "(unauthenticated)"


class EventError(ValueError):
    """An object that is not a valid request event."""


def parse_ts(value: object) -> float:
    """Seconds since the epoch from a number or an RFC 3339 string."""
    if isinstance(value, bool):
        raise EventError("ts must be a number or an RFC 3339 string, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise EventError(f"ts {value!r} is not RFC 3339") from exc
        if parsed.tzinfo is None:
            raise EventError(f"ts {value!r} has no time zone offset")
        return parsed.timestamp()
    raise EventError(f"ts must be a number or an RFC 3339 string, got {type(value).__name__}")


def validate_event(obj: object) -> Event:
    """Check the fields the schema requires; return the event unchanged."""
    if not isinstance(obj, dict):
        raise EventError("an event must be a JSON object")
    for name in ("ts", "account_id", "request"):
        if name not in obj:
            raise EventError(f"event lacks required field {name!r}")
    parse_ts(obj["ts"])
    account = obj["account_id"]
    if not isinstance(account, str) or not account:
        raise EventError("account_id must be a non-empty string")
    request = obj["request"]
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        raise EventError("request must be an object with a messages array")
    for name in ("response", "decision", "account_meta"):
        if name in obj and not isinstance(obj[name], dict):
            raise EventError(f"{name} must be an object")
    return obj


def carries_request(event: Event) -> bool:
    """Whether the event has a request to judge: one the gateway refused for bad input or a
    bad key before reading it has no messages."""
    return bool((event.get("request") or {}).get("messages"))


def open_log(path: Path) -> io.BufferedIOBase:
    """A JSONL log's bytes, gunzipped when its name ends in ``.gz``."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


def decode_line(line: bytes) -> Event:
    """One JSONL line as a validated event; an error says what is wrong, not where."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc}") from exc
    return validate_event(obj)


def parse_line(line: bytes, path: Path | str, lineno: int) -> Event:
    """One JSONL line as a validated event; an error names it as ``path:lineno``."""
    try:
        return decode_line(line)
    except EventError as exc:
        raise EventError(f"{path}:{lineno}: {exc}") from exc


def read_jsonl(path: Path | str) -> Iterator[Event]:
    """Validated events from a JSONL file (``.gz`` allowed); the line number names bad input."""
    file = Path(path)
    with open_log(file) as raw:
        for lineno, line in enumerate(raw, start=1):
            if line.strip():
                yield parse_line(line, file, lineno)
