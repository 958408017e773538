"""The attack campaigns of the simulator, by archetype name.

Each archetype is a ``SourceFactory``: a campaign of ``spec.accounts`` accounts with the volume,
timing, infrastructure sharing and prompt material of one distillation pattern from the public
reports. They only produce events for our own evaluation; nothing here talks to a model API.
Each factory's docstring lists its options and defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from distillguard.sim.attacks_evasive import evasive
from distillguard.sim.attacks_hydra import hydra_reseller
from distillguard.sim.attacks_logprob import logprob_harvest
from distillguard.sim.attacks_multilingual import multilingual_reasoning
from distillguard.sim.attacks_reasoning import reasoning_harvest
from distillguard.sim.attacks_surge import release_surge
from distillguard.sim.attacks_text import censorship_rewrite, rubric_grading
from distillguard.sim.attacks_tools import agentic_coding, computer_use
from distillguard.sim.context import SourceFactory

FACTORIES: Final[Mapping[str, SourceFactory]] = MappingProxyType(
    {
        "reasoning-harvest": reasoning_harvest,
        "rubric-grading": rubric_grading,
        "censorship-rewrite": censorship_rewrite,
        "agentic-coding": agentic_coding,
        "computer-use": computer_use,
        "hydra-reseller": hydra_reseller,
        "release-surge": release_surge,
        "logprob-harvest": logprob_harvest,
        "multilingual-reasoning": multilingual_reasoning,
        "evasive": evasive,
    }
)
