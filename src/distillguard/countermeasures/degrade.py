"""Degrade: lower the training value of what an account receives, not its usefulness.

A distiller's best material is the raw chain-of-thought, token log-probabilities (soft labels),
several samples per prompt and long completions; a person reading the answer needs none of
them. Degrading therefore removes (or summarises) reasoning, drops logprobs, asks for one choice
and caps length, and leaves the answer text, ``content``, exactly as the model wrote it: a
legitimate account degraded by mistake keeps its answers.

``degrade_request`` runs before forwarding, ``degrade_response`` rewrites a whole
chat.completion, and ``StreamDegrader`` does the same chunk by chunk for SSE streams, holding
reasoning back until it knows where it ends. None of them mutates what it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from distillguard.tokens import estimate_tokens

__all__ = [
    "REASONING_FIELDS",
    "SUMMARY_PREFIX",
    "THINKING_PARTS",
    "DegradeOptions",
    "StreamDegrader",
    "degrade_request",
    "degrade_response",
    "summarise_reasoning",
]

SUMMARY_PREFIX: Final = "[reasoning summarised] "
# Providers name raw reasoning differently (DeepSeek and vLLM, OpenRouter); both are handled.
REASONING_FIELDS: Final = ("reasoning_content", "reasoning")
# Content parts that carry thinking rather than answer (Anthropic-style message content).
THINKING_PARTS: Final = frozenset({"thinking", "reasoning", "redacted_thinking"})
_DETAILS: Final = "reasoning_details"  # OpenRouter's structured copy of the same reasoning
_REMOVED: Final = (*REASONING_FIELDS, _DETAILS)  # in this order: summaries are deterministic
_REMOVED_SET: Final = frozenset(_REMOVED)
_TEXT_KEYS: Final = ("thinking", "text", "reasoning", "summary")  # readable text of a part
_LENGTH_FIELDS: Final = ("max_completion_tokens", "max_tokens")  # the first is set when absent
_ANSWER_KEYS: Final = ("content", "tool_calls", "function_call", "refusal")
_EMPTY: Final[tuple[object, ...]] = (None, "", [], {})
# Where a sentence ends, and the same read backwards: the summary needs only the first and
# the last sentence, so it never scans the middle of a long chain of thought.
_SENTENCE_END: Final = re.compile(r"(?<=[.!?。！？])\s+|\s*\n\s*")
_SENTENCE_END_REVERSED: Final = re.compile(r"\s+(?=[.!?。！？])|\s*\n\s*")
_JOIN: Final = " … "


class DegradeOptions(BaseModel):
    """How a degraded account's traffic is changed; every field is policy config."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    strip_reasoning: bool = True
    """Remove raw reasoning (``reasoning_content``, ``reasoning``, ``reasoning_details`` and
    thinking content parts): chain-of-thought is what teaches a student model to reason."""

    reasoning_summary: bool = False
    """Replace stripped reasoning by a short extractive summary instead of removing it, for
    clients that show the model's "thinking" to people. Needs ``strip_reasoning``."""

    summary_chars: int = Field(default=240, ge=40)
    """Longest summary, prefix included: enough to show what was considered, too little to
    train on."""

    drop_logprobs: bool = True
    """Remove logprobs from requests and responses: token probabilities are soft labels, the
    richest distillation signal per token, and few applications need them."""

    force_n1: bool = True
    """Ask for one choice: many samples per prompt feed best-of-n filtering and preference
    pairs."""

    max_tokens_cap: int | None = Field(default=4096, ge=1)
    """Upper bound on ``max_tokens`` / ``max_completion_tokens``, only ever lowering them and
    set as ``max_completion_tokens`` when the client set neither; ``null`` leaves lengths
    alone. On reasoning models the budget includes reasoning tokens, so a low cap can cut the
    answer itself."""

    @model_validator(mode="after")
    def _summary_needs_strip(self) -> DegradeOptions:
        if self.reasoning_summary and not self.strip_reasoning:
            raise ValueError("reasoning_summary replaces stripped reasoning: set strip_reasoning")
        return self


def degrade_request(body: dict[str, Any], opts: DegradeOptions) -> tuple[dict[str, Any], list[str]]:
    """A degraded copy of a chat request, and the changes made, in words, for the audit log.

    Only ever lowers what the client asked for; ``body`` itself is left as it was.
    """
    out = dict(body)  # top-level values are replaced, never edited in place
    changes: list[str] = []
    if opts.drop_logprobs:
        if out.pop("logprobs", None):
            changes.append("logprobs removed")
        top = out.pop("top_logprobs", None)
        if top is not None:
            changes.append(f"top_logprobs removed (was {top})")
    n = out.get("n")
    if opts.force_n1 and n is not None and n != 1:
        out["n"] = 1
        changes.append(f"n lowered from {n} to 1")
    cap = opts.max_tokens_cap
    if cap is not None:
        present = [key for key in _LENGTH_FIELDS if out.get(key) is not None]
        for key in present:
            value = out[key]
            if isinstance(value, int) and not isinstance(value, bool) and value > cap:
                out[key] = cap
                changes.append(f"{key} lowered from {value} to {cap}")
        if not present:
            out[_LENGTH_FIELDS[0]] = cap
            changes.append(f"{_LENGTH_FIELDS[0]} set to {cap} (was unset)")
    return out, changes


def degrade_response(body: dict[str, Any], opts: DegradeOptions) -> dict[str, Any]:
    """A degraded copy of a non-streamed chat.completion.

    Reasoning is removed or summarised and logprobs dropped per choice; ``content`` strings
    are untouched (a list of parts only loses its thinking parts). ``reasoning_tokens`` in
    usage drops to what is left when reasoning was removed; the billed totals stay.
    """
    out = dict(body)
    choices = body.get("choices")
    if not isinstance(choices, list):
        return out
    tally = _Tally()
    out["choices"] = [_degrade_choice(choice, opts, tally) for choice in choices]
    usage = body.get("usage")
    if tally.chars_in and isinstance(usage, dict):
        out["usage"] = _with_reasoning_tokens(usage, tally.tokens_out)
    return out


class StreamDegrader:
    """Degrade one stream of ``chat.completion.chunk`` objects, one parsed chunk at a time.

    One instance per response: it remembers, per choice, the reasoning withheld so far and
    whether the answer has begun. ``feed`` never mutates the chunk it is given and returns that
    very object when nothing in it changed, so a relay can forward the original bytes rather
    than serialise again (``out == [chunk] and out[0] is chunk``).
    """

    def __init__(self, opts: DegradeOptions) -> None:
        self.opts = opts
        self.reasoning_chars_in = 0  # reasoning characters the upstream sent
        self.reasoning_chars_out = 0  # reasoning characters passed on (summaries)
        self._tokens_out = 0
        self._pending: dict[int, list[str]] = {}  # withheld reasoning, per choice index
        self._field: dict[int, str] = {}  # the reasoning field each choice used
        self._answering: set[int] = set()  # choices whose answer has begun
        self._last: dict[str, Any] = {}

    @property
    def removed_reasoning_chars(self) -> int:
        """Reasoning characters the client did not receive: the measure of the effect."""
        return max(0, self.reasoning_chars_in - self.reasoning_chars_out)

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """What to send in place of ``chunk``: nothing, it, a changed copy, after summaries."""
        self._last = chunk
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return [chunk]  # error events and unknown shapes pass as they are
        ahead: list[dict[str, Any]] = []  # summaries that must precede this chunk
        kept: list[Any] = []
        changed = False
        for choice in choices:
            degraded = self._choice(choice, ahead)
            changed = changed or degraded is not choice
            if degraded is not None:
                kept.append(degraded)
        usage = chunk.get("usage")
        new_usage = usage
        if isinstance(usage, dict):
            if not choices:  # the closing usage chunk: every choice has finished
                ahead.extend(self.finish())
            if self.reasoning_chars_in:
                new_usage = _with_reasoning_tokens(usage, self._tokens_out)
        if not changed and new_usage is usage:
            return [*ahead, chunk]
        if choices and not kept and not isinstance(usage, dict):
            return ahead  # it carried nothing but reasoning
        out = {**chunk, "choices": kept}
        if new_usage is not usage:
            out["usage"] = new_usage
        return [*ahead, out]

    def finish(self) -> list[dict[str, Any]]:
        """Summaries still owed when the stream ends while a choice was reasoning."""
        out: list[dict[str, Any]] = []
        for index in sorted(self._pending):
            self._answering.add(index)
            summary = self._summary_chunk(index)
            if summary is not None:
                out.append(summary)
        return out

    def _choice(self, choice: Any, ahead: list[dict[str, Any]]) -> Any:
        """``choice`` degraded: itself when unchanged, a copy when changed, None to drop it.

        Runs for every choice of every chunk, so the common case (an answer delta without
        reasoning or logprobs) costs a few dict lookups and nothing else.
        """
        if not isinstance(choice, dict):
            return choice
        index = choice.get("index", 0)
        index = index if isinstance(index, int) else 0
        delta = choice.get("delta")
        stripped = delta
        out = choice
        opts = self.opts
        if opts.strip_reasoning and isinstance(delta, dict) and _may_hold_reasoning(delta):
            stripped, found = _take_reasoning(delta)
            if found:
                self._withhold(index, found)
            if stripped is not delta:
                out = {**choice, "delta": stripped}
        if opts.drop_logprobs and choice.get("logprobs") is not None:
            out = {**out, "logprobs": None}
        if (
            opts.reasoning_summary
            and index not in self._answering
            and _answer_begins(stripped, choice)
        ):
            self._answering.add(index)
            summary = self._summary_chunk(index)
            if summary is not None:
                ahead.append(summary)
        if stripped is not delta and not _carries_anything(stripped, choice):
            return None
        return out

    def _withhold(self, index: int, found: dict[str, str]) -> None:
        text = "".join(dict.fromkeys(found.values()))  # some providers send both fields
        self.reasoning_chars_in += len(text)
        field = next((key for key in REASONING_FIELDS if key in found), None)
        if field is not None:
            self._field.setdefault(index, field)
        if self.opts.reasoning_summary and index not in self._answering:
            self._pending.setdefault(index, []).append(text)

    def _summary_chunk(self, index: int) -> dict[str, Any] | None:
        pieces = self._pending.pop(index, None)
        summary = summarise_reasoning("".join(pieces or ()), self.opts.summary_chars)
        if not summary:
            return None
        self.reasoning_chars_out += len(summary)
        self._tokens_out += estimate_tokens(summary)
        head = {key: value for key, value in self._last.items() if key not in ("choices", "usage")}
        delta = {self._field.get(index, REASONING_FIELDS[0]): summary}
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
        return {**head, "choices": [choice]}


def summarise_reasoning(text: str, max_chars: int) -> str:
    """A short, deterministic, extractive stand-in for raw reasoning: its first sentence (what
    was considered) and its last (the conclusion), clipped, prefixed so nobody mistakes it for
    the model's own words. At most ``max_chars`` characters; empty when there is nothing to say.
    """
    text = text.strip()
    budget = max_chars - len(SUMMARY_PREFIX)
    if not text or budget <= 0:
        return ""
    opening_end = _SENTENCE_END.search(text)
    closing_end = _SENTENCE_END_REVERSED.search(text[::-1])
    if opening_end is None or closing_end is None:
        return SUMMARY_PREFIX + _clip(_squash(text), budget)
    first = _squash(text[: opening_end.start()])
    last = _squash(text[len(text) - closing_end.start() :])
    only_two = len(text) - closing_end.end() < opening_end.end()  # one boundary, both ways
    if only_two and len(first) + 1 + len(last) <= budget:
        body = f"{first} {last}"  # nothing left out, so no ellipsis
    elif len(first) + len(_JOIN) + len(last) <= budget:
        body = first + _JOIN + last
    elif budget - len(_JOIN) < 2:
        body = _clip(last, budget)
    else:
        room = budget - len(_JOIN)
        opening = min(len(first), room // 2)  # the conclusion gets what the opening leaves
        body = _clip(first, opening) + _JOIN + _clip(last, room - opening)
    return SUMMARY_PREFIX + body


def _squash(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…" if limit > 0 else ""


@dataclass(slots=True)
class _Tally:
    chars_in: int = 0  # reasoning characters found
    tokens_out: int = 0  # estimated tokens of the reasoning left in place


def _degrade_choice(choice: Any, opts: DegradeOptions, tally: _Tally) -> Any:
    if not isinstance(choice, dict):
        return choice
    out = dict(choice)
    message = choice.get("message")
    if opts.strip_reasoning and isinstance(message, dict):
        out["message"] = _degrade_message(message, opts, tally)
    if opts.drop_logprobs and choice.get("logprobs") is not None:
        out["logprobs"] = None
    return out


def _degrade_message(
    message: dict[str, Any], opts: DegradeOptions, tally: _Tally
) -> dict[str, Any]:
    out, found = _take_reasoning(message)
    if not found:
        return out
    texts = list(dict.fromkeys(found.values()))  # some providers send both fields
    tally.chars_in += sum(map(len, texts))
    if opts.reasoning_summary:
        summary = summarise_reasoning("\n".join(texts), opts.summary_chars)
        if summary:
            # Where the provider put its reasoning, so clients find the summary there too.
            fields = [key for key in REASONING_FIELDS if key in found] or [REASONING_FIELDS[0]]
            out = {**out, **dict.fromkeys(fields, summary)}
            tally.tokens_out += estimate_tokens(summary)
    return out


def _take_reasoning(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``fields`` (a message or a delta) without reasoning, and the reasoning text found, by
    the key that held it. ``fields`` itself comes back when there was nothing to take."""
    out = fields
    found: dict[str, str] = {}
    for key in _REMOVED:
        value = fields.get(key)
        if value is None:
            continue
        if out is fields:
            out = dict(fields)
        del out[key]
        text = _text_of(value)
        if text:
            found[key] = text
    content = fields.get("content")
    if isinstance(content, list):
        thinking = [part for part in content if _is_thinking(part)]
        if thinking:
            if out is fields:
                out = dict(fields)
            out["content"] = [part for part in content if not _is_thinking(part)]
            text = _text_of(thinking)
            if text:
                found["content"] = text
    return out, found


def _may_hold_reasoning(fields: dict[str, Any]) -> bool:
    """A cheap first look, before ``_take_reasoning`` copies anything."""
    return not _REMOVED_SET.isdisjoint(fields) or isinstance(fields.get("content"), list)


def _is_thinking(part: object) -> bool:
    return isinstance(part, dict) and part.get("type") in THINKING_PARTS


def _text_of(value: object) -> str:
    """Readable reasoning text in a field, a part, or a list of them (encrypted data is not)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text_of(item) for item in value)
    if isinstance(value, dict):
        return "".join(text for key in _TEXT_KEYS if isinstance(text := value.get(key), str))
    return ""


def _answer_begins(delta: object, choice: dict[str, Any]) -> bool:
    """Whether this choice's reasoning is over: its answer, a tool call, or its end arrived."""
    if choice.get("finish_reason") is not None:
        return True
    if not isinstance(delta, dict):
        return False
    return bool(delta.get("content") or any(delta.get(key) for key in _ANSWER_KEYS))


def _carries_anything(delta: object, choice: dict[str, Any]) -> bool:
    """Whether a choice stripped of reasoning still has something for the client."""
    if choice.get("finish_reason") is not None:
        return True
    return isinstance(delta, dict) and any(value not in _EMPTY for value in delta.values())


def _with_reasoning_tokens(usage: dict[str, Any], kept: int) -> dict[str, Any]:
    """``usage`` reporting at most ``kept`` reasoning tokens: the count would otherwise tell a
    harvester how much reasoning it missed. ``usage`` itself when there is nothing to lower."""
    details = usage.get("completion_tokens_details")
    if not isinstance(details, dict):
        return usage
    tokens = details.get("reasoning_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens <= kept:
        return usage
    return {**usage, "completion_tokens_details": {**details, "reasoning_tokens": kept}}
