"""A word-level tokenizer for the student models, lossless on the text it covers.

A student must learn *which word* follows a given word ("to use" vs "to utilize", "it's" vs
"it is"), because that is where the text watermark under test lives. So a token is one word
(contractions kept whole: "it's"), one digit or one punctuation character, and a single space
in front of a word or a punctuation mark is glued to it (GPT-2 style: " use" is one token).
That keeps one token per word, so an order-3 n-gram sees the two previous *words*, not a word
and a space. Any other whitespace (newlines, indentation, double spaces) is a token of its own.
Case is kept. `detokenize(tokenize(text)) == text` for every string.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BOS",
    "EOS",
    "SEP",
    "SPECIAL_TOKENS",
    "UNK",
    "WordTokenizer",
    "detokenize",
    "pack",
    "target_start",
    "tokenize",
]

UNK: Final = 0
BOS: Final = 1
EOS: Final = 2
SEP: Final = 3  # between a prompt and its answer
SPECIAL_TOKENS: Final = ("<unk>", "<bos>", "<eos>", "<sep>")

_PIECE: Final = re.compile(
    r"""
      \ ?[^\W\d_]+(?:['’][^\W\d_]+)*   # a word, contractions whole, one leading space
    | \ ?\d                            # one digit: numbers never fall out of the vocabulary
    | \ ?(?:[^\s\w]|_)                 # one punctuation or symbol character
    | \s*\n                            # a line break with the blanks before it
    | \s+(?!\S)                        # blanks, leaving the last space to the next word
    | \s+                              # blanks before a tab or at the end
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split `text` into pieces that concatenate back to exactly `text`."""
    return _PIECE.findall(text)


def detokenize(pieces: Iterable[str]) -> str:
    return "".join(pieces)


@dataclass(frozen=True, slots=True)
class WordTokenizer:
    """A closed vocabulary over `tokenize` pieces; ids 0-3 are `SPECIAL_TOKENS`."""

    tokens: tuple[str, ...]
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"the vocabulary must start with {SPECIAL_TOKENS}")
        index = {token: i for i, token in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise ValueError("the vocabulary holds a token twice")
        object.__setattr__(self, "_index", index)

    @classmethod
    def fit(cls, texts: Iterable[str], max_size: int = 16_000, min_count: int = 1) -> WordTokenizer:
        """Keep the `max_size - 4` most frequent pieces of `texts` seen `min_count` times.

        Ties are broken by the piece itself, so the same texts always give the same ids.
        """
        if max_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"max_size must exceed {len(SPECIAL_TOKENS)}, got {max_size}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text))
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        ranked = sorted(
            (piece for piece, count in counts.items() if count >= min_count),
            key=lambda piece: (-counts[piece], piece),
        )
        return cls(SPECIAL_TOKENS + tuple(ranked[: max_size - len(SPECIAL_TOKENS)]))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def id_of(self, piece: str) -> int:
        """The id of one piece, `UNK` when the vocabulary lacks it."""
        return self._index.get(piece, UNK)

    def encode(self, text: str) -> NDArray[np.int64]:
        """Ids of `text` alone, without special tokens."""
        get = self._index.get
        return np.fromiter((get(p, UNK) for p in tokenize(text)), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; an unknown piece reads as "<unk>", special tokens as their names."""
        return "".join(self.tokens[int(i)] for i in ids)

    def encode_prompt(self, prompt: str) -> NDArray[np.int64]:
        """`<bos> prompt <sep>`: the context a student answers from."""
        return np.concatenate(([BOS], self.encode(prompt), [SEP])).astype(np.int64)

    def encode_example(self, prompt: str, answer: str) -> NDArray[np.int64]:
        """`<bos> prompt <sep> answer <eos>`; the students learn only the answer part."""
        return np.concatenate((self.encode_prompt(prompt), self.encode(answer), [EOS])).astype(
            np.int64
        )

    def encode_text(self, text: str) -> NDArray[np.int64]:
        """`<bos> text <eos>`: plain text, every token a training target."""
        return np.concatenate(([BOS], self.encode(text), [EOS])).astype(np.int64)


def target_start(ids: NDArray[np.int64]) -> int:
    """First position a student is trained to predict: just after the first `<sep>`, else 1.

    Prompts are context, not targets: the teacher's habits (and its watermark) live in answers.
    """
    where = np.flatnonzero(ids == SEP)
    return int(where[0]) + 1 if where.size else 1


def pack(sequences: Sequence[NDArray[np.int64]]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Concatenate sequences into one stream, with a mask of the positions that are targets."""
    if not sequences:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_)
    stream = np.concatenate(sequences).astype(np.int64)
    mask = np.zeros(stream.size, dtype=np.bool_)
    offset = 0
    for seq in sequences:
        mask[offset + target_start(seq) : offset + seq.size] = True
        offset += seq.size
    return stream, mask
