"""Prompt scaffolds attack campaigns fill with real data, in two disjoint banks.

Detection is tuned on the "tuning" bank and judged on "heldout", whose templates differ in shape
(XML, JSON, YAML front matter, arrows, other languages) and wording, not by word swaps: a detector
that memorised the tuning phrasings should fail on heldout, one that learnt the behaviour should
not. The evasive archetype uses a bank's paraphraser instead, so no two prompts share a skeleton.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

from distillguard.sim.templates_heldout import TEMPLATES as HELDOUT_TEMPLATES
from distillguard.sim.templates_paraphrase import (
    Paraphraser,
    heldout_paraphraser,
    tuning_paraphraser,
)
from distillguard.sim.templates_paraphrase_dev import dev_paraphraser
from distillguard.sim.templates_paraphrase_dev2 import dev2_paraphraser
from distillguard.sim.templates_tuning import TEMPLATES as TUNING_TEMPLATES

BankName = Literal["tuning", "dev", "dev2", "heldout"]
BANK_NAMES: Final[tuple[BankName, ...]] = get_args(BankName)
Purpose = Literal[
    "reasoning-harvest",
    "cot-reconstruction",
    "rubric-grading",
    "censorship-rewrite",
    "agentic-coding",
    "computer-use",
    "multilingual-reasoning",
    "logprob",
    "synthetic-data",
    "system-prompt",
]
PURPOSES: Final[tuple[Purpose, ...]] = get_args(Purpose)

# The slots a purpose's templates may use; the first listed ones are required.
SLOTS: Final[Mapping[Purpose, frozenset[str]]] = MappingProxyType(
    {
        "reasoning-harvest": frozenset({"question"}),
        "cot-reconstruction": frozenset({"question", "answer"}),
        "rubric-grading": frozenset({"rubric", "question", "response"}),
        "censorship-rewrite": frozenset({"text"}),
        "agentic-coding": frozenset({"task"}),
        "computer-use": frozenset({"task"}),
        "multilingual-reasoning": frozenset({"question", "language"}),
        "logprob": frozenset({"question"}),
        "synthetic-data": frozenset({"text"}),
        "system-prompt": frozenset(),
    }
)
REQUIRED_SLOTS: Final[Mapping[Purpose, frozenset[str]]] = MappingProxyType(
    {
        "reasoning-harvest": frozenset({"question"}),
        "cot-reconstruction": frozenset({"question", "answer"}),
        "rubric-grading": frozenset({"rubric", "question", "response"}),
        "censorship-rewrite": frozenset({"text"}),
        "agentic-coding": frozenset({"task"}),
        "computer-use": frozenset({"task"}),
        "multilingual-reasoning": frozenset({"question"}),
        "logprob": frozenset({"question"}),
        "synthetic-data": frozenset({"text"}),
        "system-prompt": frozenset(),
    }
)

# Only lowercase identifiers in single braces are slots, so literal JSON in a template
# (`{"score": <int>}`) needs no escaping.
_SLOT: Final = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Template:
    """One scaffold; ``lang`` is the language it is written in ("*" = asks for {language})."""

    text: str
    lang: str = "en"

    @property
    def slots(self) -> frozenset[str]:
        return frozenset(_SLOT.findall(self.text))

    def render(self, **values: str) -> str:
        """Fill the slots; a slot without a value is a bug in the caller, so it raises."""
        return _SLOT.sub(lambda m: values[m.group(1)], self.text)


@dataclass(frozen=True, slots=True)
class TemplateBank:
    name: BankName
    templates: Mapping[Purpose, tuple[Template, ...]]
    paraphraser: Paraphraser

    def get(self, purpose: Purpose) -> tuple[Template, ...]:
        return self.templates[purpose]

    def pick(self, rng: random.Random, purpose: Purpose) -> Template:
        return rng.choice(self.templates[purpose])

    def sample(self, rng: random.Random, purpose: Purpose, k: int) -> tuple[Template, ...]:
        """``k`` distinct templates (fewer if the bank has fewer): a campaign's fixed scaffolds."""
        pool = self.templates[purpose]
        return tuple(rng.sample(pool, min(k, len(pool))))


RawTemplates = Mapping[str, tuple[str | tuple[str, str], ...]]


def _as_templates(raw: RawTemplates) -> Mapping[Purpose, tuple[Template, ...]]:
    """Plain strings are English; ``(lang, text)`` pairs carry their language."""
    out: dict[Purpose, tuple[Template, ...]] = {}
    for purpose in PURPOSES:
        out[purpose] = tuple(
            Template(item) if isinstance(item, str) else Template(item[1], lang=item[0])
            for item in raw[purpose]
        )
    return MappingProxyType(out)


def bank(name: BankName) -> TemplateBank:
    """The named bank (cheap to build: each source calls this once)."""
    if name == "tuning":
        return TemplateBank("tuning", _as_templates(TUNING_TEMPLATES), tuning_paraphraser())
    if name == "dev":
        return TemplateBank("dev", _as_templates(TUNING_TEMPLATES), dev_paraphraser())
    if name == "dev2":
        return TemplateBank("dev2", _as_templates(TUNING_TEMPLATES), dev2_paraphraser())
    if name == "heldout":
        return TemplateBank("heldout", _as_templates(HELDOUT_TEMPLATES), heldout_paraphraser())
    raise ValueError(f"unknown template bank {name!r}")
