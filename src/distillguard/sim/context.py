"""What a source is built from: the seed, the window, the data, which template bank to use."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillguard.sim.core import SimWindow, TrafficSource, stable_id
from distillguard.sim.resources import DataBank
from distillguard.sim.templates import BankName

TemplateBank = BankName


@dataclass(frozen=True)
class SimContext:
    seed: int
    window: SimWindow
    bank: DataBank
    # Attack prompt templates come from one of two disjoint banks. Detection is tuned only on
    # "tuning"; "heldout" measures how it does on phrasings it never saw. "dev" is the tuning
    # bank with an independently written paraphraser: the evasive archetype's wordings are new,
    # so its misses can be studied without looking at the heldout bank. "dev2" is another such
    # paraphraser, written later by another hand, for the next round of misses.
    template_bank: TemplateBank = "tuning"

    def rng(self, *names: object) -> random.Random:
        """A generator private to one source or account: adding a source never shifts another."""
        return random.Random(stable_id(self.seed, *names, length=16))


@dataclass(frozen=True)
class SourceSpec:
    """One entry of a scenario: a kind of traffic and how much of it."""

    kind: str  # a key of the source registry
    accounts: int  # how many accounts (already multiplied by the scenario's scale)
    name: str  # unique within the scenario; seeds the source's randomness and names its accounts
    requests_per_account: int | None = None  # None: the kind's own default / natural volume
    options: dict[str, Any] = field(default_factory=dict)


SourceFactory = Callable[[SimContext, SourceSpec], TrafficSource]
