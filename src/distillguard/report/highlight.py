"""Which parts of a prompt are a shared template: the prompt cut the way detection cuts it
(sentences and lines), each piece marked with how many accounts sent that scaffold piece.

Pieces are masked one by one here rather than as a whole prompt, so a quote or code block
spanning two sentences can be missed; what is marked is always a real match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from distillguard.features.text import h64, skeleton
from distillguard.population import Population

# Cut after a line break or a sentence end (the ends detection uses: ". ", "? ", "。", ...).
_CUTS = re.compile(r"(?<=[。！？；\n])|(?<=[.?!;:])(?= )")
MIN_WORDS = 4


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    accounts: int  # accounts that sent this piece as part of a scaffold; 0 = not shared


def pieces(text: str, population: Population, min_accounts: int = 2) -> list[Piece]:
    """``text`` cut into consecutive pieces (joined they give ``text`` back)."""
    out: list[Piece] = []
    for part in _CUTS.split(text):
        if not part:
            continue
        words = " ".join(skeleton(part).split())
        shared = 0
        if len(words.split()) >= MIN_WORDS:
            scaffold = population.scaffold(h64(words))
            if scaffold is not None and scaffold.n_accounts >= min_accounts:
                shared = scaffold.n_accounts
        if out and out[-1].accounts == shared == 0:
            out[-1] = Piece(out[-1].text + part, 0)
        else:
            out.append(Piece(part, shared))
    consumed = "".join(p.text for p in out)
    if consumed != text:  # the pattern missed something: never hide text from an analyst
        return [Piece(text, 0)]
    return out
