"""Candidate asks: the short spans of a prompt that could be a request for the reasoning or
for a grade. A regex and a split (microseconds), run on every prompt; only the semantic layer
(``features.semantic``) embeds them, and only for a sample of each account's requests."""

from __future__ import annotations

import re
from typing import Final

# A span is a candidate only when it has a word an ask for reasoning or for grading needs.
_TRIGGER: Final = re.compile(
    r"step|walk|through|reason|think|thought|explain|expla|show|work|logic|process|approach"
    r"|part\b|stage|deriv|justif|how (?:you|did|would|to|do|does|is|come)|why|detail|break"
    r"|method|rational|calculat|solution|solv|arriv|figure|elaborat|unpack|narrat|spell"
    r"|outline|clarif|understand|each|every|line by line|talk me|teach|tutor|intuition|idea"
    r"|mind|head|brain|consider|along the way|follow"
    r"|grade|score|rate\b|rating|rubric|evaluat|assess|judge|criteri"
    r"|paso|razon|étape|raison|schritt|denk|begründ|ragion|passo|raciocín|步|推理|思考|理由|過程",
    re.IGNORECASE,
)
_SPLIT: Final = re.compile(r"(?<=[.?!:;])\s+|\n+|[\"“”«»]|```")
_DIGITS: Final = re.compile(r"\d+")
MIN_WORDS, MAX_WORDS = 2, 24
MAX_SPANS = 4


def normalise(span: str) -> str:
    return _DIGITS.sub("#", " ".join(span.split()).casefold())


def ask_spans(text: str) -> tuple[str, ...]:
    """The short spans of ``text`` that could be an ask (normalised), at most ``MAX_SPANS``."""
    if not text or not _TRIGGER.search(text):
        return ()
    found: list[str] = []
    for part in _SPLIT.split(text):
        words = part.split()
        if MIN_WORDS <= len(words) <= MAX_WORDS and _TRIGGER.search(part):
            span = normalise(part)
            if span not in found:
                found.append(span)
                if len(found) == MAX_SPANS:
                    break
    return tuple(found)
