"""Words as the text watermark reads them: chunks, phrases, the next word, capitalisation.

Pure functions over a buffer and a position, for the scanner (``textscan.py``). A chunk is a
run of non-space characters other than backticks and double quotes; it is a *word* when it is
letters (``synonyms.WORD``) with only punctuation around them. When the buffer ends before an
answer is known and more text may come, a function returns ``NEED`` and the scanner waits;
once the text is final the end of the buffer is the end of the text.
"""

from __future__ import annotations

import re
from enum import Enum, auto
from typing import Final

from distillguard.forensics.synonyms import WORD, normalise

__all__ = [
    "BLOB",
    "CAP",
    "NEED",
    "PARTS",
    "Case",
    "Need",
    "case_of",
    "end_of",
    "ends_sentence",
    "match_phrase",
    "next_word",
    "render",
]

CAP: Final = 64  # a chunk this long is not a word (and is not held back any longer)
BLOB: Final = re.compile(rf'[^\s`"“”]{{1,{CAP}}}')
_LEAD: Final = "([{<*_'‘’«–—¿¡"
_TRAIL: Final = ".,;:!?)]}>*_'’»…–—"
PARTS: Final = re.compile(f"([{re.escape(_LEAD)}]*)({WORD.pattern})([{re.escape(_TRAIL)}]*)")
"""A word chunk: (leading punctuation, the word, trailing punctuation)."""
_CLOSERS: Final = ")]}>*_'’»"
_ENDS: Final = (".", "!", "?", ":", "…")


class Need:
    """More text is needed to decide (never returned once the text is final)."""


NEED: Final = Need()


class Case(Enum):
    AS_IS = auto()  # as the lexicon writes it ("it is", "I'm")
    CAPITAL = auto()  # first letter up ("It is")
    TITLE = auto()  # every word's first letter up ("For Example")
    UPPER = auto()  # "IT IS"


def end_of(pattern: re.Pattern[str], buf: str, pos: int) -> int:
    """Where ``pattern`` matching at ``pos`` ends (``pos`` when it does not match)."""
    match = pattern.match(buf, pos)
    return pos if match is None else match.end()


def ends_sentence(text: str) -> bool:
    return text.rstrip(_CLOSERS).endswith(_ENDS)


def match_phrase(
    buf: str, end: int, tokens: tuple[str, ...], trail: str, final: bool
) -> tuple[int, str] | Need | None:
    """Whether a member's words follow the first one (which ends at ``end`` with ``trail``).

    Words of a phrase are one space apart with no punctuation between them. Returns where the
    member ends (after the last word's trailing punctuation) and that punctuation.
    """
    if len(tokens) == 1:
        return end, trail
    if trail:
        return None
    pos = end
    for i, token in enumerate(tokens[1:], start=2):
        found = _word_after(buf, pos, final)
        if not isinstance(found, tuple):
            return found
        word, trail, pos = found
        if word != token or (trail and i < len(tokens)):
            return None
    return pos, trail


def next_word(buf: str, pos: int, final: bool) -> str | None | Need:
    """The word right after ``pos`` (one space, no leading punctuation), normalised."""
    found = _word_after(buf, pos, final)
    return found[0] if isinstance(found, tuple) else found


def _word_after(buf: str, pos: int, final: bool) -> tuple[str, str, int] | None | Need:
    """The word one space after ``pos``: (normalised, its trailing punctuation, its end)."""
    n = len(buf)
    if pos < n and buf[pos] != " ":
        return None
    if pos + 1 >= n:
        return NEED if not final else None
    match = BLOB.match(buf, pos + 1)
    if match is None or len(match.group()) == CAP:
        return None
    if match.end() == n and not final:
        return NEED
    parts = PARTS.fullmatch(match.group())
    if parts is None or parts.group(1):
        return None
    return normalise(parts.group(2)), parts.group(3), match.end()


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(text: str) -> str:
    return " ".join(_capital(word) for word in text.split(" "))


def case_of(original: str, member: str) -> Case | None:
    """How the text capitalises the member, if in a way we can reproduce on another member."""
    text = original.replace("’", "'")
    if text == member:
        return Case.AS_IS
    if text == _capital(member):
        return Case.CAPITAL
    if text == member.upper():
        return Case.UPPER
    if text == _title(member):
        return Case.TITLE
    return None


def render(member: str, case: Case, curly: bool) -> str:
    """A member written with the capitalisation (and apostrophes) of what it replaces."""
    if case is Case.CAPITAL:
        member = _capital(member)
    elif case is Case.UPPER:
        member = member.upper()
    elif case is Case.TITLE:
        member = _title(member)
    return member.replace("'", "’") if curly else member
