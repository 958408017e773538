"""Detection settings: the engine's thresholds and weights, YAML validated into typed models.

Every default is documented in README's engine section. They live apart from the code that reads
them because that code is compiled (``distillguard.native``) and pydantic models cannot be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from distillguard.detectors.registry import REGISTRY


class LinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "payment": 1.0,
            "scaffold": 0.6,
            "network": 0.3,
            "system": 0.1,
            "signature": 0.1,
        }
    )
    link_threshold: float = 0.8
    max_keys_per_account: int = 12
    # Rotating proxies must not use up the budget that payment and scaffold keys need.
    max_network_keys: int = 3
    max_accounts_per_key: int = 5000
    candidates_per_key: int = 64  # accounts compared when a key is added


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    content_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "elicitation": 1.0,
            "parameters": 1.0,
            "capability": 0.45,
            "semantic": 0.8,
        }
    )
    behaviour_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "timing": 0.7,
            "conversation": 0.6,
            "template": 1.0,
            "volume": 0.6,
            "release": 1.0,
            "metadata": 0.8,
        }
    )
    flag_threshold: float = 0.5
    min_requests: int = 3
    # Sustained content alone: strong elicitation plus a focused, novel sweep over many requests.
    sustained_min_requests: int = 20
    # The share of an account's sampled requests that ask for the reasoning by meaning, alone:
    # the low-and-slow distiller shows no behaviour to pair it with (detectors/semantic.py).
    semantic_alone: float = 0.75
    campaign_min_accounts: int = 3
    campaign_harvest_share: tuple[float, float] = (0.12, 0.35)
    campaign_focus: tuple[float, float] = (0.6, 0.9)
    # One scaffold filled with new data across the campaign's accounts: counts only beside
    # some harvesting-style content (a company's accounts sharing a card and a pipeline
    # template are not a campaign against us).
    campaign_templated: tuple[float, float] = (0.2, 0.4)
    campaign_templated_needs_harvest: tuple[float, float] = (0.05, 0.15)


class EngineConfig(BaseModel):
    """Detection settings (YAML); every default is documented in README's engine section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detectors: list[str] = Field(default_factory=lambda: list(REGISTRY))
    scoring: ScoringConfig = ScoringConfig()
    links: LinkConfig = LinkConfig()
    max_segments: int = 1_000_000
    lexicon_backend: str = "auto"
    gateway_action: Literal["flag", "block"] = Field(
        default="block", description="What the gateway does to a flagged account: flag or block."
    )


def load_engine_config(path: Path | str | None) -> EngineConfig:
    if path is None:
        return EngineConfig()
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return EngineConfig.model_validate(raw.get("engine", raw))
