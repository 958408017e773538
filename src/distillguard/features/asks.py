"""Candidate asks: the short spans of a prompt that could be a request for the reasoning or
for a grade. A trigger scan and a split, run on every prompt; only the semantic layer
(``features.semantic``) embeds them, and only for a sample of each account's requests.

The trigger is one pattern of word stems. ``features.matcher`` scans for it with Hyperscan
(about 10 µs for a typical prompt, all matches at once); this module's ``re`` scan is the
portable fallback. Both run on the lowercased text: a case-insensitive ``re`` alternation costs
almost a millisecond per prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from typing import Final

# A span is a candidate only when it has a word an ask for reasoning or for grading needs.
TRIGGER_PATTERN: Final = (
    r"step|walk|through|reason|think|thought|explain|expla|show|work|logic|process|approach"
    r"|part\b|stage|deriv|justif|how (?:you|did|would|to|do|does|is|come)|why|detail|break"
    r"|method|rational|calculat|solution|solv|arriv|figure|elaborat|unpack|narrat|spell"
    r"|outline|clarif|understand|each|every|line by line|talk me|teach|tutor|intuition|idea"
    r"|mind|head|brain|consider|along the way|follow"
    r"|grade|score|rate\b|rating|rubric|evaluat|assess|judge|criteri"
    r"|paso|razon|étape|raison|schritt|denk|begründ|ragion|passo|raciocín|步|推理|思考|理由|過程"
)
_TRIGGER: Final = re.compile(TRIGGER_PATTERN)
# Parts end at sentence punctuation (kept with the part) followed by space, at line breaks,
# quotes and code fences. (A look-behind for the punctuation would cost twice as much.)
_SPLIT: Final = re.compile(r"[.?!:;]\s+|\n+|[\"“”«»]|```")
_KEPT: Final = frozenset(".?!:;")
_DIGITS: Final = re.compile(r"\d+")
MIN_WORDS, MAX_WORDS = 2, 24
MAX_SPANS = 4


def normalise(span: str) -> str:
    return _DIGITS.sub("#", " ".join(span.split()).casefold())


def trigger_ends(lowered: str) -> list[int]:
    """Where in ``lowered`` (lowercased text) trigger words end, in characters, ascending."""
    return [m.end() for m in _TRIGGER.finditer(lowered)]


def ask_spans(text: str) -> tuple[str, ...]:
    """The short spans of ``text`` that could be an ask (normalised), at most ``MAX_SPANS``."""
    lowered = text.lower()
    return spans_at(lowered, trigger_ends(lowered))


def spans_at(lowered: str, ends: Sequence[int]) -> tuple[str, ...]:
    """The candidate spans of ``lowered`` given where its trigger words end (``ends``)."""
    if not ends:
        return ()
    found: list[str] = []
    start, i, count = 0, 0, len(ends)
    for sep in chain(_SPLIT.finditer(lowered), (None,)):
        if sep is None:
            stop = len(lowered)
        else:
            stop = sep.start()
            stop += lowered[stop] in _KEPT
        # The triggers that end inside this part (a trigger never spans a separator).
        hit = False
        while i < count and ends[i] <= stop:
            hit = hit or ends[i] > start
            i += 1
        if hit:
            part = lowered[start:stop]
            if MIN_WORDS <= len(part.split()) <= MAX_WORDS:
                span = normalise(part)
                if span not in found:
                    found.append(span)
                    if len(found) == MAX_SPANS:
                        break
        if i == count or sep is None:
            break
        start = sep.end()
    return tuple(found)
