"""Read a text left to right into the slots the text watermark may rewrite.

One pass serves the watermarker (it picks a member per slot), its streaming form, and detection
(it records the member found). All three must see the same slots, and the streaming form must
write exactly what the one-shot pass writes whatever the chunking, so every decision depends
only on text already seen plus a bounded look-ahead: the rest of a word, the words of a
possible phrase and the word after it, the run of a possible code fence. Only that is held
back; a decision never depends on where a chunk ended. A slot's context is the word before it
*as written*, so a detector reading the output sees the contexts the watermarker used.

Left exactly as they are (code is not read for context either):

* fenced code blocks (``` or ~~~ at any indentation, closed by a run at least as long), and
  every line indented by four spaces or a tab (indented code; list items nested that deep are
  left alone too);
* inline code spans, which end at a backtick run of the same length or at a blank line;
* any whitespace-separated chunk that is not a plain word with punctuation around it: anything
  with a digit, "@", "/", "." or ":" inside, "=" and so on (numbers, URLs, e-mail addresses,
  paths, identifiers, "e.g."), and anything 64 characters or longer;
* words inside double quotes (straight or typographic): often quotations or literal strings
  whose exact wording matters; a quote left open ends with its line. Single quotes are not
  tracked (they are apostrophes far more often).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from distillguard.forensics.synonyms import Lexicon, Phrase, Position, SynonymSet, normalise
from distillguard.forensics.textwords import (
    BLOB,
    CAP,
    PARTS,
    Case,
    Need,
    case_of,
    end_of,
    ends_sentence,
    match_phrase,
    next_word,
    render,
)

__all__ = ["Choose", "FoundSlot", "SlotScanner", "find_slots"]

Choose = Callable[[str, SynonymSet, int], int]
"""(previous word, set, index of the member in the text) -> index of the member to write."""

_RUN_CAP: Final = 32  # longest fence or backtick run read before deciding
_SPACE: Final = re.compile(r"[^\S\n]+")
_INDENT: Final = re.compile(rf"[ \t]{{0,{CAP}}}")  # CAP of them: code, read no further
_RUNS: Final = {c: re.compile(rf"{re.escape(c)}{{1,{_RUN_CAP}}}") for c in "`~"}
_CODE_TEXT: Final = re.compile(r"[^`\n]+")
_QUOTES: Final = '"“”'


class _Mode(Enum):
    LINE = auto()  # at the start of a prose line
    PROSE = auto()
    CODE_LINE = auto()  # the rest of an indented code line
    FENCE_LINE = auto()  # at the start of a line inside a fence
    FENCE_BODY = auto()  # the rest of a line inside a fence


@dataclass(slots=True)
class _State:
    mode: _Mode = _Mode.LINE
    fence: str = ""  # the opening run of the fence we are in
    ticks: int = 0  # backticks that opened the current code span, 0 outside one
    quoted: bool = False
    long_blob: bool = False  # inside a chunk too long to be a word
    line_blank: bool = True
    sentence_start: bool = True
    seen_word: bool = False
    context: str = ""


@dataclass(frozen=True, slots=True)
class FoundSlot:
    """A slot as a detector sees it: its context, its set and the member written there."""

    context: str
    entry: SynonymSet
    index: int


class SlotScanner:
    """Scans one text, chunk by chunk, writing each slot's member as ``choose`` decides."""

    def __init__(self, lexicon: Lexicon, choose: Choose) -> None:
        self._lexicon = lexicon
        self._choose = choose
        self._buf = ""
        self._out: list[str] = []
        self._s = _State()
        self._done = False

    def feed(self, chunk: str) -> str:
        """Scan more text; return what is decided (a suffix may be held back)."""
        if self._done:
            raise RuntimeError("this scanner has been flushed; use a new one per text")
        self._buf += chunk
        return self._run(final=False)

    def flush(self) -> str:
        """The text has ended: decide and return everything held back."""
        if self._done:
            return ""
        self._done = True
        return self._run(final=True)

    @property
    def held(self) -> int:
        """Characters fed but not yet returned."""
        return len(self._buf)

    def _run(self, final: bool) -> str:
        buf, pos = self._buf, 0
        while pos < len(buf):
            step = self._step(buf, pos, final)
            if step is None:
                break
            pos = step
        self._buf = buf[pos:]
        text = "".join(self._out)
        self._out.clear()
        return text

    def _step(self, buf: str, pos: int, final: bool) -> int | None:
        mode = self._s.mode
        if mode is _Mode.PROSE:
            return self._prose(buf, pos, final)
        if mode is _Mode.LINE:
            return self._line(buf, pos, final)
        if mode is _Mode.FENCE_LINE:
            return self._fence_line(buf, pos, final)
        return self._rest_of_line(buf, pos)

    # --- block structure -------------------------------------------------------------------

    def _line(self, buf: str, pos: int, final: bool) -> int | None:
        s = self._s
        end = end_of(_INDENT, buf, pos)
        if end - pos == CAP:
            return self._code_line(pos)
        if end == len(buf):
            if not final:
                return None
            self._out.append(buf[pos:])
            return end
        char = buf[end]
        if char in _RUNS:
            run_end = end_of(_RUNS[char], buf, end)
            if run_end == len(buf) and run_end - end < _RUN_CAP and not final:
                return None
            if run_end - end >= 3:
                s.mode, s.fence, s.ticks = _Mode.FENCE_BODY, buf[end:run_end], 0
                self._out.append(buf[pos:run_end])
                return run_end
        if end - pos >= 4 or "\t" in buf[pos:end]:
            return self._code_line(pos)
        self._out.append(buf[pos:end])
        s.mode, s.context, s.sentence_start = _Mode.PROSE, "", True
        s.quoted = s.long_blob = False
        s.line_blank = True
        return end

    def _code_line(self, pos: int) -> int:
        s = self._s
        s.mode, s.ticks, s.context = _Mode.CODE_LINE, 0, ""
        return pos

    def _rest_of_line(self, buf: str, pos: int) -> int:
        newline = buf.find("\n", pos)
        if newline < 0:
            self._out.append(buf[pos:])
            return len(buf)
        self._out.append(buf[pos : newline + 1])
        self._s.mode = _Mode.FENCE_LINE if self._s.mode is _Mode.FENCE_BODY else _Mode.LINE
        return newline + 1

    def _fence_line(self, buf: str, pos: int, final: bool) -> int | None:
        s = self._s
        n = len(buf)
        end = end_of(_INDENT, buf, pos)
        if end == n and end - pos < CAP:
            if not final:
                return None
            self._out.append(buf[pos:])
            return n
        if end - pos == CAP or buf[end] != s.fence[0]:
            s.mode = _Mode.FENCE_BODY
            return pos
        run_end = end_of(_RUNS[s.fence[0]], buf, end)
        if run_end == n and run_end - end < _RUN_CAP and not final:
            return None
        tail = end_of(_INDENT, buf, run_end)
        if tail == n and tail - run_end < CAP and not final:
            return None
        closes = run_end - end >= len(s.fence) and tail - run_end < CAP
        if not closes or (tail < n and buf[tail] != "\n"):
            s.mode = _Mode.FENCE_BODY
            return pos
        end_of_line = min(tail + 1, n)
        self._out.append(buf[pos:end_of_line])
        s.mode, s.fence, s.context = _Mode.LINE, "", ""
        return end_of_line

    # --- prose -----------------------------------------------------------------------------

    def _prose(self, buf: str, pos: int, final: bool) -> int | None:
        s = self._s
        char = buf[pos]
        if char == "\n":
            if s.line_blank:
                s.ticks = 0  # a blank line ends the paragraph, and any code span left open
            self._out.append(char)
            s.mode = _Mode.LINE
            return pos + 1
        if s.ticks:
            return self._code_span(buf, pos, final)
        space = _SPACE.match(buf, pos)
        if space is not None:
            self._out.append(space.group())
            s.long_blob = False
            return space.end()
        s.line_blank = False
        if char == "`":
            end = end_of(_RUNS["`"], buf, pos)
            if end == len(buf) and end - pos < _RUN_CAP and not final:
                return None
            s.ticks, s.context, s.sentence_start, s.long_blob = end - pos, "", False, False
            self._out.append(buf[pos:end])
            return end
        if char in _QUOTES:
            s.quoted = char == "“" or (char == '"' and not s.quoted)
            s.long_blob = False
            self._out.append(char)
            return pos + 1
        return self._blob(buf, pos, final)

    def _code_span(self, buf: str, pos: int, final: bool) -> int | None:
        s = self._s
        if buf[pos] == "`":
            end = end_of(_RUNS["`"], buf, pos)
            if end == len(buf) and end - pos < _RUN_CAP and not final:
                return None
            if end - pos == s.ticks:
                s.ticks = 0
            s.line_blank = False
            self._out.append(buf[pos:end])
            return end
        text = buf[pos : end_of(_CODE_TEXT, buf, pos)]
        if not text.isspace():
            s.line_blank = False
        self._out.append(text)
        return pos + len(text)

    def _blob(self, buf: str, pos: int, final: bool) -> int | None:
        s = self._s
        end = end_of(BLOB, buf, pos)  # not empty: _prose saw a character that starts one
        text = buf[pos:end]
        if s.long_blob or len(text) == CAP:
            s.long_blob = True
            self._other(text)
            return end
        if end == len(buf) and not final:
            return None
        parts = PARTS.fullmatch(text)
        if parts is None:
            self._other(text)
            return end
        lead, core, trail = parts.groups()
        if s.quoted:
            self._out.append(text)
            self._word(normalise(core), trail)
            return end
        return self._lexical(buf, pos, end, lead, core, trail, final)

    def _other(self, text: str) -> None:
        s = self._s
        self._out.append(text)
        s.context = ""
        s.sentence_start = ends_sentence(text) or (
            s.sentence_start and not any(c.isalnum() for c in text)
        )

    def _word(self, word: str, trail: str) -> None:
        s = self._s
        s.context, s.sentence_start, s.seen_word = word, ends_sentence(trail), True

    # --- slots -----------------------------------------------------------------------------

    def _lexical(
        self, buf: str, pos: int, end: int, lead: str, core: str, trail: str, final: bool
    ) -> int | None:
        first = normalise(core)
        found: tuple[Phrase, int, str] | None = None
        waiting = False
        for phrase in self._lexicon.phrases(first):
            match = match_phrase(buf, end, phrase.tokens, trail, final)
            if isinstance(match, Need):
                waiting = True
            elif match is not None:
                found = (phrase, *match)
                break
        if found is None:
            if waiting:
                return None
            self._out.append(buf[pos:end])
            self._word(first, trail)
            return end
        phrase, last_end, last_trail = found
        following: str | None = None
        if phrase.entry.looks_ahead and not last_trail:
            ahead = next_word(buf, last_end, final)
            if isinstance(ahead, Need):
                return None
            following = ahead
        start, core_end = pos + len(lead), last_end - len(last_trail)
        original = buf[start:core_end]
        written, last_word = original, phrase.tokens[-1]
        case = case_of(original, phrase.entry.members[phrase.index])
        if case is not None and self._allowed(phrase.entry, case, last_trail, following):
            chosen = self._choose(self._s.context, phrase.entry, phrase.index)
            if chosen != phrase.index:
                written = render(phrase.entry.members[chosen], case, "’" in original)
                last_word = phrase.entry.tokens[chosen][-1]
        self._out.append(buf[pos:start] + written + last_trail)
        self._word(last_word, last_trail)
        return last_end

    def _allowed(self, entry: SynonymSet, case: Case, trail: str, following: str | None) -> bool:
        s = self._s
        if case in (Case.CAPITAL, Case.TITLE) and not s.sentence_start:
            return False  # capitals mid-sentence: a name or a title, not ours to change
        if entry.position is Position.SENTENCE and not s.sentence_start:
            return False
        if entry.position is Position.TEXT and s.seen_word:
            return False
        if entry.trails is not None and trail.strip("*_") not in entry.trails:
            return False
        if not entry.allows_after(s.context):
            return False
        return not entry.looks_ahead or entry.allows_before(following)


def find_slots(text: str, lexicon: Lexicon) -> list[FoundSlot]:
    """Every slot of a text with the member found there, in order (for detection)."""
    found: list[FoundSlot] = []

    def record(context: str, entry: SynonymSet, index: int) -> int:
        found.append(FoundSlot(context, entry, index))
        return index

    scanner = SlotScanner(lexicon, record)
    scanner.feed(text)
    scanner.flush()
    return found
