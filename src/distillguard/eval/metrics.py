"""Metrics per archetype and per kind of legitimate traffic, with mean and spread over runs."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from distillguard.eval.runner import AccountOutcome, RunResult


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    group: str
    label: str
    accounts: int
    flagged: int
    flag_rate: float  # recall for attacks, false-positive / flag rate otherwise
    campaigns: int
    campaigns_detected: int
    leakage: float  # attack requests served before their account was flagged
    median_hours_to_detect: float | None
    median_requests_to_detect: float | None
    pairs_before_stop: int
    tokens_before_stop: int


def group_metrics(outcomes: Sequence[AccountOutcome], group: str, label: str) -> GroupMetrics:
    flagged = [o for o in outcomes if o.flagged]
    campaigns: dict[str, list[AccountOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.campaign:
            campaigns[o.campaign].append(o)
    detected = sum(
        1 for members in campaigns.values() if sum(m.flagged for m in members) * 2 >= len(members)
    )
    harvest = sum(o.harvest_requests for o in outcomes)
    leaked = sum(o.harvest_leaked for o in outcomes)
    hours = [(o.flagged_ts - o.first_ts) / 3600 for o in flagged if o.flagged_ts is not None]
    reqs = [float(o.flagged_at) for o in flagged if o.flagged_at is not None]
    return GroupMetrics(
        group=group,
        label=label,
        accounts=len(outcomes),
        flagged=len(flagged),
        flag_rate=len(flagged) / len(outcomes) if outcomes else 0.0,
        campaigns=len(campaigns),
        campaigns_detected=detected,
        leakage=leaked / harvest if harvest else 0.0,
        median_hours_to_detect=statistics.median(hours) if hours else None,
        median_requests_to_detect=statistics.median(reqs) if reqs else None,
        pairs_before_stop=sum(o.pairs_leaked for o in outcomes),
        tokens_before_stop=sum(o.tokens_leaked for o in outcomes),
    )


def run_metrics(run: RunResult) -> list[GroupMetrics]:
    groups: dict[tuple[str, str], list[AccountOutcome]] = defaultdict(list)
    for o in run.outcomes.values():
        groups[(o.label, o.kind)].append(o)
    rows = [group_metrics(members, kind, label) for (label, kind), members in groups.items()]
    order = {"attack": 0, "legitimate-automation": 1, "benign": 2}
    rows.sort(key=lambda r: (order.get(r.label, 3), r.group))
    return rows


@dataclass(frozen=True, slots=True)
class Headline:
    benign_fpr: float
    lookalike_flag_rate: float
    attack_recall: float
    precision: float
    leakage: float


def headline(run: RunResult) -> Headline:
    outs = list(run.outcomes.values())
    benign = [o for o in outs if o.label == "benign"]
    legit = [o for o in outs if o.label == "legitimate-automation"]
    attack = [o for o in outs if o.label == "attack"]
    flagged = [o for o in outs if o.flagged]
    harvest = sum(o.harvest_requests for o in attack)
    return Headline(
        benign_fpr=sum(o.flagged for o in benign) / len(benign) if benign else 0.0,
        lookalike_flag_rate=sum(o.flagged for o in legit) / len(legit) if legit else 0.0,
        attack_recall=sum(o.flagged for o in attack) / len(attack) if attack else 0.0,
        precision=sum(o.label == "attack" for o in flagged) / len(flagged) if flagged else 1.0,
        leakage=sum(o.harvest_leaked for o in attack) / harvest if harvest else 0.0,
    )


def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return mean, spread
