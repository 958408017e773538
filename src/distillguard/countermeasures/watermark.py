"""Put the text watermark on what a response carries, JSON or stream, answer and reasoning.

The gateway cannot see the model's logits, so the mark is applied to the text as it leaves:
``forensics.textmark`` rewrites keyed, context-conditioned word choices and never touches
code, numbers or URLs. Each text field of each choice (``content``, and the reasoning field
the upstream uses) is one stream of text with its own watermarker, so a streamed answer gets
exactly the text the same answer would get as one JSON body. A watermarker holds back a
partial word, or a possible phrase with the word after it, or a possible code fence marker
(under 400 characters on real answers); what it holds is released when the choice finishes,
or at the latest when the stream ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

TEXT_FIELDS = ("content", "reasoning_content", "reasoning")
WATERMARKED = "watermarked"  # the reason an event carries when its answer was marked


class TextStream(Protocol):
    def feed(self, chunk: str) -> str: ...

    def flush(self) -> str: ...


MakeStream = Callable[[], TextStream]


def watermark_completion(completion: dict[str, Any], make: MakeStream) -> dict[str, Any]:
    """A copy of a ``chat.completion`` with every choice's text fields watermarked."""
    choices = completion.get("choices")
    if not isinstance(choices, list):
        return completion
    out = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            out.append(choice)
            continue
        marked = dict(message)
        for name in TEXT_FIELDS:
            text = message.get(name)
            if isinstance(text, str) and text:
                stream = make()
                marked[name] = stream.feed(text) + stream.flush()
        out.append({**choice, "message": marked})
    return {**completion, "choices": out}


class StreamWatermark:
    """Watermark a stream of ``chat.completion.chunk`` objects (the relay's transform:
    ``feed`` a chunk, get what to send instead; ``finish`` when the stream ends)."""

    def __init__(self, make: MakeStream) -> None:
        self._make = make
        self._streams: dict[tuple[int, str], TextStream] = {}
        self._last: dict[str, Any] = {}

    def _stream(self, index: int, name: str) -> TextStream:
        stream = self._streams.get((index, name))
        if stream is None:
            stream = self._streams[(index, name)] = self._make()
        return stream

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return [chunk]
        self._last = chunk
        if not choices and self._streams:  # the closing usage chunk: release what is held
            return [*self.finish(), chunk]
        kept = [self._choice(choice) for choice in choices]
        if all(new is old for new, old in zip(kept, choices, strict=True)):
            return [chunk]
        return [{**chunk, "choices": kept}]

    def _choice(self, choice: Any) -> Any:
        if not isinstance(choice, dict):
            return choice
        index = choice.get("index", 0)
        index = index if isinstance(index, int) else 0
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return choice
        marked = delta
        for name in TEXT_FIELDS:
            text = delta.get(name)
            if isinstance(text, str) and text:
                out = self._stream(index, name).feed(text)
                if out != text:
                    marked = {**marked, name: out}
        if choice.get("finish_reason") is not None:
            for name in TEXT_FIELDS:
                stream = self._streams.pop((index, name), None)
                tail = stream.flush() if stream is not None else ""
                if tail:
                    held = marked.get(name)
                    marked = {**marked, name: (held if isinstance(held, str) else "") + tail}
        return choice if marked is delta else {**choice, "delta": marked}

    def finish(self) -> list[dict[str, Any]]:
        """Text still held when the stream ends without a choice's ``finish_reason``."""
        out: list[dict[str, Any]] = []
        for (index, name), stream in sorted(self._streams.items()):
            tail = stream.flush()
            if tail:
                out.append(
                    {
                        "id": self._last.get("id"),
                        "object": "chat.completion.chunk",
                        "created": self._last.get("created"),
                        "model": self._last.get("model"),
                        "choices": [{"index": index, "delta": {name: tail}, "finish_reason": None}],
                    }
                )
        self._streams.clear()
        return out


class Watermarking:
    """Who gets the watermark, under which keys (``watermark`` in the gateway config)."""

    def __init__(
        self, mode: str, secret: str, *, per_account: bool = True, lexicon: Path | None = None
    ) -> None:
        from distillguard.forensics.keys import TextKeys
        from distillguard.forensics.synonyms import Lexicon

        self.mode = mode
        self.per_account = per_account
        self._secret = secret.encode()
        self._lexicon = Lexicon.load(lexicon)  # None: the packaged lexicon
        TextKeys.from_secret(self._secret)  # a bad secret fails at start-up, not on a request

    def for_request(self, action: str, account_id: str) -> MakeStream | None:
        """A maker of text watermarkers for this answer, or None when it goes unmarked."""
        from distillguard.forensics.textmark import TextWatermarker

        if self.mode == "off" or (self.mode == "flagged" and action == "allow"):
            return None
        account = account_id if self.per_account else None
        return TextWatermarker.from_secret(self._lexicon, self._secret, account).stream
