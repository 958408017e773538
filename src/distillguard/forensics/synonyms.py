"""The lexicon of interchangeable words the text watermark chooses between.

The sets live in ``synonyms.yaml`` (data, so a deployment can ship its own). Loading checks the
one property the watermark's correctness rests on: rewriting an occurrence to another member of
its set never changes how the text splits into occurrences. Detection re-reads the *output*, so
if "you'll" became "you will" right after "thank", and "thank you" were itself a member, the
detector would see a different slot from the one the watermarker wrote. The rules:

* no member is a strict prefix of another (the longest match at a position stays the same);
* no member can start inside another member where its set may be rewritten (checked token by
  token, taking a set's own conditions into account);
* a set's conditions on its neighbours give the same answer for every member of a neighbouring
  set, so rewriting one slot never switches its neighbour on or off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = [
    "DEFAULT_PATH",
    "WORD",
    "Lexicon",
    "LexiconError",
    "Phrase",
    "Position",
    "SynonymSet",
    "normalise",
]

DEFAULT_PATH: Final = Path(__file__).with_name("synonyms.yaml")
# A word: letters, with inner apostrophes or hyphens ("don't", "well-known"); never digits.
WORD: Final = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def normalise(word: str) -> str:
    """The form words are compared in: lower case, typographic apostrophes made straight."""
    return word.lower().replace("’", "'")


def head(token: str) -> str:
    """The part of a contraction before its apostrophe: "you're" -> "you"."""
    return token.split("'", 1)[0]


class Position(StrEnum):
    ANY = "any"
    SENTENCE = "sentence"  # the first word of a sentence or line
    TEXT = "text"  # the first word of the whole text


@dataclass(frozen=True, slots=True)
class SynonymSet:
    """Members that mean the same wherever the set's conditions hold."""

    members: tuple[str, ...]  # as written mid-sentence ("I'm")
    tokens: tuple[tuple[str, ...], ...]  # normalised words of each member
    position: Position = Position.ANY
    trails: frozenset[str] | None = None
    next_word: bool = False
    not_before: frozenset[str] = frozenset()
    only_before: frozenset[str] | None = None
    not_after: frozenset[str] = frozenset()
    only_after: frozenset[str] | None = None

    @property
    def key(self) -> str:
        """The set's identity in the keyed hash: independent of file order and member order."""
        return "|".join(sorted(" ".join(words) for words in self.tokens))

    @property
    def looks_ahead(self) -> bool:
        return self.next_word or self.only_before is not None or bool(self.not_before)

    def allows_after(self, previous: str) -> bool:
        if previous in self.not_after:
            return False
        return self.only_after is None or previous in self.only_after

    def allows_before(self, following: str | None) -> bool:
        """Whether the next word (None: no word follows directly) permits this slot."""
        if following is None:
            return not self.next_word and self.only_before is None
        if _hits(following, self.not_before):
            return False
        return self.only_before is None or _hits(following, self.only_before)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One member, as the scanner looks it up by its first word."""

    tokens: tuple[str, ...]
    entry: SynonymSet
    index: int


def _hits(word: str, words: frozenset[str]) -> bool:
    return word in words or head(word) in words


class Lexicon:
    """Validated synonym sets, indexed by the first word of each member."""

    def __init__(self, sets: Iterable[SynonymSet]) -> None:
        self.sets = tuple(sets)
        _check(self.sets)
        index: dict[str, list[Phrase]] = {}
        for entry in self.sets:
            for i, words in enumerate(entry.tokens):
                index.setdefault(words[0], []).append(Phrase(words, entry, i))
        self._by_first = {word: tuple(found) for word, found in index.items()}
        self.max_words = max((len(w) for s in self.sets for w in s.tokens), default=1)

    def phrases(self, first: str) -> tuple[Phrase, ...]:
        """Members starting with this normalised word (at most one can match a text)."""
        return self._by_first.get(first, ())

    @classmethod
    def load(cls, path: Path | None = None) -> Lexicon:
        """Read and validate a lexicon file (default: the packaged ``synonyms.yaml``).

        Any problem - unreadable file, bad YAML, a set of the wrong shape or one the checks
        refuse - is a ``LexiconError`` that names the file.
        """
        source = DEFAULT_PATH if path is None else Path(path)
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
            return cls.from_mapping(raw)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
            raise LexiconError(f"lexicon {source}: {exc}") from exc

    @classmethod
    def from_mapping(cls, raw: Any) -> Lexicon:
        sets = raw.get("sets") if isinstance(raw, Mapping) else None
        if not isinstance(sets, list):
            raise LexiconError("a lexicon needs a list under 'sets'")
        return cls(_parse_set(item, n) for n, item in enumerate(sets))


class LexiconError(ValueError):
    """A lexicon that cannot be used (said in one line)."""


_OPTIONS: Final = frozenset(
    {"members", "position", "trail", "next_word"}
    | {"not_before", "only_before", "not_after", "only_after"}
)


def _parse_set(item: Any, n: int) -> SynonymSet:
    if not isinstance(item, Mapping) or not set(item) <= _OPTIONS:
        raise LexiconError(f"set #{n}: expected a mapping with keys from {sorted(_OPTIONS)}")

    def strings(key: str) -> list[str] | None:
        value = item.get(key)
        if value is not None and not isinstance(value, list):
            raise LexiconError(f"set #{n}: {key} must be a list, not {value!r}")
        return None if value is None else [str(v) for v in value]

    def words(key: str) -> frozenset[str] | None:
        value = strings(key)
        return None if value is None else frozenset(normalise(v) for v in value)

    members = tuple(strings("members") or ())
    if len(members) < 2 or len(set(map(normalise, members))) != len(members):
        raise ValueError(f"set #{n}: needs two or more distinct members, got {members}")
    tokens = tuple(tuple(normalise(m).split(" ")) for m in members)
    for member, member_words in zip(members, tokens, strict=True):
        if not all(WORD.fullmatch(w) for w in member_words):
            raise ValueError(f"set #{n}: {member!r} must be words separated by single spaces")

    trails = strings("trail")
    return SynonymSet(
        members=members,
        tokens=tokens,
        position=Position(item.get("position", "any")),
        trails=None if trails is None else frozenset(trails),
        next_word=bool(item.get("next_word", False)),
        not_before=words("not_before") or frozenset(),
        only_before=words("only_before"),
        not_after=words("not_after") or frozenset(),
        only_after=words("only_after"),
    )


def _check(sets: Sequence[SynonymSet]) -> None:
    """Refuse sets that could make a rewritten text split into different slots."""
    owner: dict[tuple[str, ...], SynonymSet] = {}
    for entry in sets:
        for words in entry.tokens:
            if words in owner:
                raise ValueError(f"{' '.join(words)!r} is in two sets")
            owner[words] = entry
    members = list(owner)
    for a in members:
        for b in members:
            if a != b and b[: len(a)] == a:
                raise ValueError(f"{' '.join(a)!r} is a prefix of {' '.join(b)!r}")
    _check_overlaps(members, sets)
    _check_neighbours(sets)


def _check_overlaps(members: Sequence[tuple[str, ...]], sets: Sequence[SynonymSet]) -> None:
    # A member X = x1..xk and a set S one of whose members starts with x_j (j > 1): writing
    # that member after x1..x_{j-1} could make X match where it did not before. Harmless when
    # S can never be rewritten right after the word x_{j-1} (no punctuation in between).
    for x in members:
        for j in range(1, len(x)):
            tail, previous = x[j:], x[j - 1]
            for entry in sets:
                if not any(_compatible(tail, m) for m in entry.tokens):
                    continue
                blocked = entry.position is not Position.ANY or not entry.allows_after(previous)
                if not blocked:
                    raise ValueError(
                        f"a member of {entry.key!r} can start inside {' '.join(x)!r}; "
                        f"add {previous!r} to its not_after"
                    )


def _compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return all(p == q for p, q in zip(a, b, strict=False))


def _check_neighbours(sets: Sequence[SynonymSet]) -> None:
    before = {s.not_before for s in sets} | {s.only_before for s in sets if s.only_before}
    after = {s.not_after for s in sets} | {s.only_after for s in sets if s.only_after}
    for entry in sets:
        # Only a set that may follow a word directly can be the next word of another slot.
        if entry.position is Position.ANY:
            for words in before:
                if len({_hits(m[0], words) for m in entry.tokens}) > 1:
                    raise ValueError(_uneven(entry, "first", words))
        for words in after:
            if len({m[-1] in words for m in entry.tokens}) > 1:
                raise ValueError(_uneven(entry, "last", words))


def _uneven(entry: SynonymSet, which: str, words: frozenset[str]) -> str:
    return (
        f"the {which} words of {entry.key!r} are not all in (or all out of) the word list "
        f"{sorted(words)[:6]}...: rewriting it would switch a neighbouring slot on or off"
    )
