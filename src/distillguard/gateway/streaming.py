"""Relay an upstream SSE stream to the client, watching for a client that goes away.

A disconnect cancels the relay, which closes the upstream response (so the model stops
generating) and records ``client_disconnected`` on the event. A stream the upstream breaks
mid-way ends with ``data: {"error": ...}`` as the OpenAI API does.

Each socket write costs the gateway more than parsing the lines it carries, so the relay sends
once per upstream read (not once per SSE line) and holds a final ``[DONE]`` back to go out with
the end of the response. The disconnect watcher is a plain asyncio task: the gateway runs on
asyncio, and an anyio task group cost ~0.1 ms per stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from distillguard.gateway.recording import EventDraft
from distillguard.gateway.upstream import apply_usage, upstream_unreachable

_DONE = b"data: [DONE]\n\n"


class ChunkTransform(Protocol):
    """What the relay runs each parsed chunk through (degrade, watermark): ``feed`` gives what
    to send instead (the chunk itself when unchanged), ``finish`` what is owed at the end."""

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]: ...

    def finish(self) -> list[dict[str, Any]]: ...


class StreamRelay(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        upstream: httpx.Response,
        draft: EventDraft,
        finish: Callable[[EventDraft], object],
        *,
        client_wants_usage: bool,
        headers: dict[str, str],
        transforms: Sequence[ChunkTransform] = (),
    ):
        # No Response.__init__: it would add a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
        ]
        self.upstream = upstream
        self.draft = draft
        self.finish = finish
        self.client_wants_usage = client_wants_usage
        self.transforms = tuple(transforms)
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._complete = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        draft = self.draft
        draft.forwarded = True
        draft.streamed = True
        draft.status = 200
        relay = asyncio.current_task()
        if relay is None:
            raise RuntimeError("StreamRelay runs in an asyncio task")
        watcher = asyncio.get_running_loop().create_task(self._watch(receive, relay))
        try:
            await self._relay(send)
        except asyncio.CancelledError:
            # The watcher's cancellation ends the relay quietly; anyone else's propagates.
            if not draft.client_disconnected or relay.uncancel() > 0:
                raise
        finally:
            watcher.cancel()
            try:
                await self.upstream.aclose()
            finally:
                if draft.client_disconnected:
                    draft.status = 499
                    draft.error_code = "client_disconnected"
                    draft.error_message = "The client closed the connection mid-stream."
                if self._content:
                    draft.content = "".join(self._content)
                if self._reasoning:
                    draft.reasoning_content = "".join(self._reasoning)
                self.finish(draft)

    async def _watch(self, receive: Receive, relay: asyncio.Task[object]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # After the last byte the server reports a disconnect as well.
                if not self._complete:
                    self.draft.client_disconnected = True
                    relay.cancel()
                return

    async def _relay(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        partial = held = b""
        try:
            async for data in self.upstream.aiter_bytes():
                if b"\r" in data:  # SSE allows CRLF and CR endings; empty lines are skipped
                    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                lines = (partial + data).split(b"\n")
                partial = lines.pop()  # the line still being received
                out = held + b"".join([o for o in map(self._on_line, lines) if o])
                held = out if out.endswith(_DONE) else b""
                if out and not held:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
        except httpx.HTTPError as exc:
            err = upstream_unreachable(exc)
            self.draft.fail(err.status, err.code, err.message)
            payload = held + b"data: " + orjson.dumps(err.envelope()) + b"\n\n"
            self._complete = True
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        self._complete = True
        last = held + (self._on_line(partial) or b"")  # a last line may lack its line break
        if not last.endswith(_DONE):
            last += self._flush()
        await send({"type": "http.response.body", "body": last, "more_body": False})

    def _on_line(self, line: bytes) -> bytes | None:
        if not line:
            return None
        if not line.startswith(b"data:"):
            return line + b"\n"
        data = line[5:].strip()
        if data == b"[DONE]":
            return self._flush() + _DONE
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b"data: " + data + b"\n\n"
        if not isinstance(chunk, dict):
            return b"data: " + data + b"\n\n"
        if "error" in chunk:
            inner = chunk["error"] if isinstance(chunk["error"], dict) else {}
            self.draft.fail(
                502, str(inner.get("code") or "upstream_error"), str(inner.get("message"))
            )
        elif self.transforms:
            # Degraded or watermarked traffic: what the client gets (and the event records)
            # is the transformed stream; a chunk may vanish or withheld text may come first.
            out = self._through([chunk], 0)
            if len(out) == 1 and out[0] is chunk:
                return self._emit(chunk, data)
            return b"".join(self._emit(c, None) for c in out)
        return self._emit(chunk, data)

    def _through(self, chunks: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
        for transform in self.transforms[start:]:
            chunks = [out for chunk in chunks for out in transform.feed(chunk)]
        return chunks

    def _emit(self, chunk: dict[str, Any], data: bytes | None) -> bytes:
        self._collect(chunk)
        if not self.client_wants_usage and "usage" in chunk and not chunk.get("choices"):
            return b""  # the usage chunk the gateway asked for, not the client
        return b"data: " + (data if data is not None else orjson.dumps(chunk)) + b"\n\n"

    def _flush(self) -> bytes:
        # What one transform still owes goes through the transforms after it.
        owed = [
            chunk
            for i, transform in enumerate(self.transforms)
            for chunk in self._through(transform.finish(), i + 1)
        ]
        return b"".join(self._emit(c, None) for c in owed)

    def _collect(self, chunk: dict[str, object]) -> None:
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    if isinstance(delta.get("content"), str):
                        self._content.append(delta["content"])
                    reasoning = delta.get("reasoning_content", delta.get("reasoning"))
                    if isinstance(reasoning, str):
                        self._reasoning.append(reasoning)
                if isinstance(choice.get("finish_reason"), str):
                    self.draft.finish_reason = choice["finish_reason"]
        apply_usage(self.draft, chunk.get("usage"))
