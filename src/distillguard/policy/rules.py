"""The response policy as data: conditions on what detection knows, mapped to a ladder of actions.

allow → flag (shadow, log only) → throttle (429 past a rate cap) → degrade (answers with less
training value) → review (queued for a human) → block (403). Every matching rule proposes an
action and the strongest one wins. The defaults never block on their own: a wrongly blocked
customer is the costliest mistake, so blocking is a human's call (a review resolution or an
analyst's action) unless a provider adds a blocking rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distillguard.config import ConfigError, substitute_env
from distillguard.countermeasures.degrade import DegradeOptions
from distillguard.store.decisions import LADDER

RuleAction = Literal["flag", "throttle", "degrade", "review", "block"]
IntelKind = Literal["cidr", "payment_sha256", "client_sha256", "template_minhash"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Model):
    """A numeric test: ``gte`` (at least) and/or ``lt`` (below)."""

    gte: float | None = None
    lt: float | None = None

    def holds(self, value: float) -> bool:
        return (self.gte is None or value >= self.gte) and (self.lt is None or value < self.lt)


class MetaMatch(_Model):
    """A test on one ``account_meta`` field: equal to ``eq``, one of ``in``, or numeric bounds
    (``account_age_days`` is derived from ``created_at``)."""

    eq: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    gte: float | None = None
    lt: float | None = None

    def holds(self, value: object) -> bool:
        if value is None:
            return False
        if self.eq is not None and str(value) != self.eq:
            return False
        if self.in_ is not None and str(value) not in self.in_:
            return False
        if self.gte is not None or self.lt is not None:
            if not isinstance(value, int | float):
                return False
            return Bound(gte=self.gte, lt=self.lt).holds(float(value))
        return True


class Condition(_Model):
    """Every field given must hold (AND). An empty condition always holds."""

    score: Bound | None = Field(default=None, description="max(account score, campaign score)")
    account_score: Bound | None = Field(default=None, description="the account's own score")
    campaign_score: Bound | None = Field(default=None, description="its campaign's score (0 alone)")
    flagged: bool | None = Field(
        default=None, description="the engine's verdict (sticky once flagged)"
    )
    in_campaign: bool | None = Field(
        default=None, description="linked to at least one other account"
    )
    requests: Bound | None = Field(default=None, description="the account's requests so far")
    signals: dict[str, Bound] = Field(default_factory=dict, description="detector values")
    intel: list[IntelKind] | None = Field(
        default=None,
        description="matches an imported peer indicator of these kinds ([] = any kind)",
    )
    account_meta: dict[str, MetaMatch] = Field(default_factory=dict)


class Rule(_Model):
    name: str
    when: Condition
    action: RuleAction
    reason: str | None = None


class ThrottleConfig(_Model):
    requests_per_minute: int = Field(default=10, ge=1)
    tokens_per_minute: int | None = Field(default=20_000, ge=1)


class ReviewConfig(_Model):
    while_pending: Literal["allow", "flag", "throttle", "degrade", "block"] = Field(
        default="degrade", description="What traffic gets while a human has not decided yet."
    )


class CampaignEnforcement(_Model):
    """What an action on a campaign carries to, besides its member accounts."""

    payment: bool = True
    templates: bool = True
    networks: Literal["off", "owned", "all"] = Field(
        default="owned",
        description=(
            "IP ranges (/24, /48): 'owned' only where every account seen there is a member, so "
            "a campus NAT shared with one attacker is not blocked for its students"
        ),
    )
    min_network_accounts: int = Field(
        default=3,
        ge=1,
        description="an owned range needs at least this many members seen on it",
    )
    clients: bool = Field(
        default=False,
        description="client fingerprints (parameters + user agent): common SDKs share them",
    )


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(name="watch", when=Condition(score=Bound(gte=0.35)), action="flag"),
    Rule(name="slow-flagged", when=Condition(flagged=True), action="throttle"),
    Rule(
        name="degrade-strong", when=Condition(flagged=True, score=Bound(gte=0.7)), action="degrade"
    ),
    Rule(
        name="review-campaign",
        when=Condition(flagged=True, in_campaign=True, campaign_score=Bound(gte=0.5)),
        action="review",
    ),
    Rule(name="peer-intel", when=Condition(intel=[]), action="degrade"),
)


class PolicyConfig(_Model):
    """The response policy (YAML). Every default here is the documented default."""

    mode: Literal["enforce", "shadow"] = Field(
        default="enforce", description="shadow: decide and log what would happen, change nothing"
    )
    rules: list[Rule] = Field(default_factory=lambda: list(DEFAULT_RULES))
    throttle: ThrottleConfig = ThrottleConfig()
    degrade: DegradeOptions = DegradeOptions()
    review: ReviewConfig = ReviewConfig()
    campaign_enforcement: CampaignEnforcement = CampaignEnforcement()
    intel_boost: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="added to the score of traffic matching peer intel",
    )


def load_policy(path: Path | None) -> PolicyConfig:
    if path is None:
        return PolicyConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"policy {path}: the top level must be a mapping")
        return PolicyConfig.model_validate(substitute_env(raw.get("policy", raw)))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"policy {path}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Facts:
    """What the policy's conditions may look at, for one request."""

    score: float
    account_score: float
    campaign_score: float
    flagged: bool
    in_campaign: bool
    requests: int
    signals: dict[str, float] = field(default_factory=dict)
    intel_kinds: frozenset[str] = frozenset()
    account_meta: dict[str, Any] = field(default_factory=dict)


def _meta_value(meta: dict[str, Any], name: str) -> object:
    if name == "account_age_days":
        created = meta.get("created_at")
        if isinstance(created, int | float):
            return (time.time() - float(created)) / 86_400.0
        return None
    return meta.get(name)


def holds(cond: Condition, facts: Facts) -> bool:
    for bound, value in (
        (cond.score, facts.score),
        (cond.account_score, facts.account_score),
        (cond.campaign_score, facts.campaign_score),
        (cond.requests, float(facts.requests)),
    ):
        if bound is not None and not bound.holds(value):
            return False
    if cond.flagged is not None and cond.flagged != facts.flagged:
        return False
    if cond.in_campaign is not None and cond.in_campaign != facts.in_campaign:
        return False
    for name, bound in cond.signals.items():
        if not bound.holds(facts.signals.get(name, 0.0)):
            return False
    if cond.intel is not None:
        wanted = set(cond.intel) or {"cidr", "payment_sha256", "client_sha256", "template_minhash"}
        if not wanted & facts.intel_kinds:
            return False
    return all(m.holds(_meta_value(facts.account_meta, k)) for k, m in cond.account_meta.items())


def strongest(actions: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The (action, why) highest on the ladder; None when the list is empty."""
    return max(actions, key=lambda a: LADDER.index(a[0]), default=None)


def evaluate(policy: PolicyConfig, facts: Facts) -> tuple[str, str] | None:
    """The strongest action of the rules that hold, with the rule that proposed it."""
    return strongest(
        [(r.action, r.reason or f"rule {r.name}") for r in policy.rules if holds(r.when, facts)]
    )
