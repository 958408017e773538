"""What an analyst looks at, read off a running (or finished) engine: the riskiest accounts,
the campaigns with their evidence, one campaign's link graph. Shared by the dashboard and the
``analyze`` report, so both say the same thing about the same state."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from distillguard.engine import Engine, campaign_id_of
from distillguard.scoring.combine import campaign_score

# How an evidence kind reads to an analyst.
KIND_LABELS = {
    "payment": "same payment method",
    "scaffold": "same prompt scaffold",
    "network": "same /24 or /48 network",
    "system": "same system prompt",
    "signature": "same parameters and client",
}


@dataclass(slots=True)
class AccountRow:
    account_id: str
    requests: int
    score: float
    flagged: bool
    flagged_at_request: int | None
    campaign_id: str | None
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "requests": self.requests,
            "score": round(self.score, 4),
            "flagged": self.flagged,
            "flagged_at_request": self.flagged_at_request,
            "campaign_id": self.campaign_id,
            "reasons": list(self.reasons),
        }


@dataclass(slots=True)
class CampaignRow:
    campaign_id: str
    accounts: list[str]
    requests: int
    score: float
    flagged: bool
    first_seen: float
    last_seen: float
    flagged_at_ts: float | None
    evidence: dict[str, int]
    focus: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "accounts": len(self.accounts),
            "requests": self.requests,
            "score": round(self.score, 4),
            "flagged": self.flagged,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "flagged_at_ts": self.flagged_at_ts,
            "evidence": self.evidence,
            "focus": self.focus,
        }


@dataclass(slots=True)
class Indicator:
    """One piece of shared evidence: a key several of the campaign's accounts hold."""

    kind: str
    value: str
    holders: list[str]


@dataclass(slots=True)
class Graph:
    nodes: list[AccountRow]
    edges: list[tuple[str, str, tuple[str, ...]]]  # (account, account, evidence kinds)
    shown_of: int  # members in the campaign; nodes may be the busiest of them
    indicators: list[Indicator] = field(default_factory=list)


def account_row(engine: Engine, account_id: str) -> AccountRow:
    record = engine.accounts[account_id]
    campaign_id, _ = engine.campaign(account_id)
    flagged = engine.is_flagged(account_id)
    return AccountRow(
        account_id=account_id,
        requests=record.requests,
        score=record.score,
        flagged=flagged,
        flagged_at_request=record.flagged_at,
        campaign_id=campaign_id,
        reasons=engine.explain(account_id) if record.requests else (),
    )


def riskiest_accounts(engine: Engine, limit: int = 50, query: str = "") -> list[AccountRow]:
    """Flagged first, then by score; ``query`` filters by a substring of the account id."""
    ids = [a for a in engine.accounts if query in a] if query else list(engine.accounts)
    ranked = sorted(
        ids,
        key=lambda a: (-engine.is_flagged(a), -engine.accounts[a].score, a),
    )
    return [account_row(engine, a) for a in ranked[:limit]]


def campaigns(engine: Engine, limit: int = 50) -> list[CampaignRow]:
    """Linked groups of two or more accounts, flagged first, then by score and size."""
    rows = []
    for root, members in engine.campaign_roots().items():
        stats = engine.linker.stats(root)
        rows.append(
            CampaignRow(
                campaign_id=campaign_id_of(root),
                accounts=sorted(members),
                requests=stats.requests,
                score=campaign_score(stats, engine.config.scoring),
                flagged=stats.flagged_ts is not None,
                first_seen=stats.first_ts,
                last_seen=stats.last_ts,
                flagged_at_ts=stats.flagged_ts,
                evidence=dict(stats.evidence),
                focus=dict(stats.capabilities.most_common()),
            )
        )
    rows.sort(key=lambda r: (-r.flagged, -r.score, -len(r.accounts), r.campaign_id))
    return rows[:limit]


def _shown(value: object, kind: str) -> str:
    if kind in ("scaffold", "system", "signature") and isinstance(value, int):
        return f"{value:016x}"
    return str(value)


def link_graph(engine: Engine, members: list[str], max_nodes: int = 80) -> Graph:
    """The campaign's accounts (its busiest ``max_nodes``) and, for each pair, the kinds of
    evidence they share that are strong enough to link them on their own account."""
    shown = sorted(members, key=lambda a: (-engine.accounts[a].requests, a))[:max_nodes]
    holders: dict[tuple[str, object], list[str]] = defaultdict(list)
    for account in members:
        for key in engine.linker.keys_of(account):
            holders[key].append(account)
    indicators = [
        Indicator(kind, _shown(value, kind), sorted(accounts))
        for (kind, value), accounts in holders.items()
        if len(accounts) >= 2
    ]
    indicators.sort(key=lambda i: (-len(i.holders), i.kind, i.value))
    weights, threshold = engine.config.links.weights, engine.config.links.link_threshold
    on_show = set(shown)
    shared: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (kind, _), accounts in holders.items():
        visible = sorted(a for a in accounts if a in on_show)
        for a, b in combinations(visible, 2):
            shared[(a, b)].add(kind)
    edges = [
        (a, b, tuple(sorted(kinds)))
        for (a, b), kinds in sorted(shared.items())
        if sum(weights.get(k, 0.0) for k in kinds) >= threshold
    ]
    return Graph([account_row(engine, a) for a in shown], edges, len(members), indicators)
