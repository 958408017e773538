"""From signals to a score.

Two kinds of evidence must meet before an account is flagged on its own: *what* it asks for
(content: reasoning elicitation, harvesting parameters, a focused sweep) and *how* it asks
(behaviour: scripted timing, one-shot prompts, one scaffold, volume, a release pivot, a new or
shared-payment account). Legitimate automation has the behaviour without the content; a
curious human has the content now and then without the behaviour. A campaign is scored on its
aggregate and lends its score to every member, including members that look harmless alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from distillguard.campaigns.linker import CampaignStats
from distillguard.detectors.base import ramp
from distillguard.engine_config import ScoringConfig

HIGH_VALUE = ("reasoning", "coding", "agentic", "vision")


def noisy_or(values: Mapping[str, float], weights: Mapping[str, float]) -> float:
    miss = 1.0
    for name, weight in weights.items():
        miss *= 1.0 - weight * values.get(name, 0.0)
    return 1.0 - miss


def account_score(values: Mapping[str, float], requests: int, config: ScoringConfig) -> float:
    """The account's own score from its detectors' values."""
    content = noisy_or(values, config.content_weights)
    behaviour = noisy_or(values, config.behaviour_weights)
    paired = content * behaviour
    sustained = (
        values.get("elicitation", 0.0)
        * values.get("capability", 0.0)
        * ramp(requests, config.sustained_min_requests, 2 * config.sustained_min_requests)
    )
    semantic = config.semantic_alone * values.get("semantic", 0.0)
    return max(paired, sustained, semantic) if requests >= config.min_requests else 0.0


def ranked(values: Mapping[str, float], config: ScoringConfig) -> list[str]:
    """Detector names by how much they weigh in the score, strongest first, zeros left out."""
    weights = {**config.content_weights, **config.behaviour_weights}
    names = [n for n, v in values.items() if v > 0]
    return sorted(names, key=lambda n: values[n] * weights.get(n, 1.0), reverse=True)


def campaign_score(stats: CampaignStats, config: ScoringConfig) -> float:
    """Aggregate volume, focus, templating and harvesting share of linked accounts."""
    if stats.accounts < 2 or stats.requests == 0:
        return 0.0
    # Two linked accounts weigh half; the full weight from campaign_min_accounts on.
    size = ramp(stats.accounts, 1, config.campaign_min_accounts)
    harvest = ramp(stats.harvest_share, *config.campaign_harvest_share)
    templated = ramp(stats.templated_share, *config.campaign_templated) * ramp(
        stats.harvest_share, *config.campaign_templated_needs_harvest
    )
    top = max(HIGH_VALUE, key=lambda c: stats.capabilities.get(c, 0))
    focus_share = stats.capabilities.get(top, 0) / stats.requests
    focus = ramp(focus_share, *config.campaign_focus) * ramp(stats.requests, 20, 60)
    return size * max(harvest, 0.8 * focus, templated)


def campaign_reason(stats: CampaignStats) -> str:
    top = max(HIGH_VALUE, key=lambda c: stats.capabilities.get(c, 0))
    focus_share = stats.capabilities.get(top, 0) / stats.requests if stats.requests else 0.0
    evidence = ", ".join(f"{k} x{v}" for k, v in stats.evidence.most_common())
    reason = (
        f"campaign of {stats.accounts} linked accounts ({evidence}); "
        f"{stats.harvest_share:.0%} harvesting-style requests, "
        f"{stats.templated_share:.0%} on a shared scaffold, {focus_share:.0%} {top}, "
        f"{stats.requests} requests"
    )
    return reason
