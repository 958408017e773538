"""Text of a request, cut down to what detection reads, and its skeleton.

Only the newest user message is analysed per event (earlier turns were analysed when they were
new), clipped at both ends: detection cost stays flat however long a conversation grows.
The skeleton masks what varies between fills of one template (numbers, quoted data, code,
URLs), so requests built from one scaffold share skeleton segments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from zlib import adler32, crc32

HEAD_CHARS: Final = 3000
TAIL_CHARS: Final = 1000
MAX_SEGMENTS: Final = 24
PREFIX_WORDS: Final = 8

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_QUOTED = re.compile(r"\"[^\"\n]{24,}\"|'[^'\n]{24,}'|“[^”\n]{24,}”|「[^」\n]{12,}」")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Sentence ends become line breaks with plain str.replace: a regex split with look-behinds
# cost ~60 µs per prompt, most of the per-event budget.
_SENTENCE_ENDS = (". ", "? ", "! ", "; ", ": ", "。", "！", "？", "；")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def clip(text: str) -> str:
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def last_user_text(messages: Sequence[object]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return clip(content_text(message.get("content")))
    return ""


def system_text(messages: Sequence[object]) -> str:
    parts = [
        content_text(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    ]
    return clip("\n".join(parts))


def h64(text: str) -> int:
    """A stable 64-bit hash (same in every process and on every replica)."""
    data = text.encode("utf-8", "surrogatepass")
    return (crc32(data) << 32) | adler32(data)


SKELETON_HEAD: Final = 1200
SKELETON_TAIL: Final = 400


def skeleton(text: str) -> str:
    """Scaffolds sit at a prompt's start and end, so only those parts are masked and kept."""
    if len(text) > SKELETON_HEAD + SKELETON_TAIL:
        text = text[:SKELETON_HEAD] + "\n" + text[-SKELETON_TAIL:]
    # Each substitution only where its cheap marker occurs: most prompts need few of them.
    if "```" in text:
        text = _CODE_BLOCK.sub(" <code> ", text)
    if "http" in text or "www." in text:
        text = _URL.sub("<url>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    # A quote needs both its marks (two of them for straight quotes): a lone apostrophe
    # ("don't") is not worth a scan.
    if (
        text.count('"') >= 2
        or text.count("'") >= 2
        or ("“" in text and "”" in text)
        or ("「" in text and "」" in text)
    ):
        text = _QUOTED.sub("<quote>", text)
    return _NUMBER.sub("0", text).lower()


def _long_in_cjk(segment: str) -> bool:
    return not segment.isascii() and len(_CJK.findall(segment)) >= 6


def segment_hashes(skel: str) -> tuple[int, ...]:
    """Hashes of a skeleton's sentences/lines, plus its opening and closing words.

    Scaffold text recurs across requests built from one template; the slot's content (the
    question, the document) gives segments that are new each time.
    """
    return tuple(dict.fromkeys(map(h64, scaffold_candidates(skel))))


def scaffold_candidates(skel: str) -> list[str]:
    """The texts whose hashes are a skeleton's segments, in prompt order: its sentences and
    lines (the first and last few), then its opening and closing words."""
    for end in _SENTENCE_ENDS:
        if end in skel:
            skel = skel.replace(end, end.rstrip() + "\n")
    segments = []
    for line in skel.split("\n"):
        words = line.split()
        # Four words, or six CJK characters; judged before the words are joined again.
        if len(words) >= 4 or (words and _long_in_cjk(line)):
            segments.append(" ".join(words))
    if len(segments) > MAX_SEGMENTS:
        segments = segments[: MAX_SEGMENTS - 4] + segments[-4:]
    words = skel.split()
    if len(words) >= PREFIX_WORDS * 2:
        segments.append("^" + " ".join(words[:PREFIX_WORDS]))
        segments.append("$" + " ".join(words[-PREFIX_WORDS:]))
    return segments


def non_ascii_share(text: str) -> float:
    """About how much of a text is in a non-Latin script, from UTF-8 length alone.

    Extra bytes per character: 0 for ASCII, ~1 for Cyrillic/Greek/Arabic, ~2 for CJK; capped
    at 1. Counting characters one by one in Python costs 100x more.
    """
    if not text or text.isascii():
        return 0.0
    sample = text[:2000]
    extra = len(sample.encode("utf-8", "surrogatepass")) - len(sample)
    return min(1.0, extra / len(sample))
