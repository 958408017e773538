"""A whole simulated week: scenario in, time-ordered events and ground-truth labels out.

The scenario (YAML) lists sources by kind and size; ``scale`` multiplies account counts.
Every source draws from its own seeded generator, so results are identical per seed and a
source added to a scenario never changes the traffic of another.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field

from distillguard.events import Event
from distillguard.sim import attacks, benign, lookalikes
from distillguard.sim.context import SimContext, SourceFactory, SourceSpec, TemplateBank
from distillguard.sim.core import DAY, SimAccount, SimRequest, SimWindow, TrafficSource, to_event
from distillguard.sim.resources import DataBank

FACTORIES: dict[str, SourceFactory] = {
    **benign.FACTORIES,
    **lookalikes.FACTORIES,
    **attacks.FACTORIES,
}


class SourceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    accounts: int = Field(ge=1)
    requests_per_account: int | None = Field(default=None, ge=1)
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    scale: bool = True  # False: keep the account count whatever the scenario's scale


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 1
    start: str = "2026-02-02T00:00:00Z"
    days: float = Field(default=7.0, gt=0)
    release_day: float = Field(default=4.0, ge=0)
    scale: float = Field(default=1.0, gt=0)
    template_bank: TemplateBank = "tuning"
    # The whole shipped file (~17,400 conversations): fewer makes humans share prompts.
    sharegpt_limit: int = Field(default=20_000, ge=100)
    sources: list[SourceEntry]

    def with_(self, **changes: Any) -> Scenario:
        return self.model_copy(update=changes)


def load_scenario(path: Path | str | None) -> Scenario:
    if path is None:
        return default_scenario()
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Scenario.model_validate(raw)


def demo_scenario() -> Scenario:
    """Two days with every source kind, small enough to drive through a live gateway."""
    return load_scenario(Path(__file__).with_name("demo_scenario.yaml"))


def default_scenario() -> Scenario:
    """The embedded default: a week of a mid-size API's traffic with every archetype."""
    entries: list[dict[str, Any]] = [
        {"kind": "human", "accounts": 1200},
        {"kind": "heavy-human", "accounts": 12},
        {"kind": "campus", "accounts": 160},
        {"kind": "enterprise-pipeline", "accounts": 3},
        {"kind": "eval-harness", "accounts": 4},
        {"kind": "coding-agent", "accounts": 30},
        {"kind": "reasoning-harvest", "accounts": 8},
        {"kind": "rubric-grading", "accounts": 5},
        {"kind": "censorship-rewrite", "accounts": 5},
        {"kind": "agentic-coding", "accounts": 6},
        {"kind": "computer-use", "accounts": 4},
        {"kind": "hydra-reseller", "accounts": 600},
        {"kind": "release-surge", "accounts": 6},
        {"kind": "logprob-harvest", "accounts": 5},
        {"kind": "multilingual-reasoning", "accounts": 6},
        {"kind": "evasive", "accounts": 12},
    ]
    return Scenario.model_validate({"sources": entries})


@dataclass
class World:
    scenario: Scenario
    context: SimContext
    sources: list[tuple[SourceSpec, TrafficSource]]

    def accounts(self) -> list[SimAccount]:
        return [a for _, source in self.sources for a in source.accounts()]

    def requests(self) -> Iterator[SimRequest]:
        streams = [source.requests() for _, source in self.sources]
        return heapq.merge(*streams, key=lambda r: r.ts)

    def events(self) -> Iterator[tuple[Event, SimRequest]]:
        meta = {a.account_id: a.meta for a in self.accounts()}
        for req in self.requests():
            yield to_event(req, meta.get(req.account_id)), req

    def labels(self) -> dict[str, Any]:
        accounts = {
            a.account_id: {"label": a.label, "kind": a.kind, "campaign": a.campaign_id}
            for a in self.accounts()
        }
        campaigns: dict[str, dict[str, Any]] = {}
        for a in self.accounts():
            if a.campaign_id:
                entry = campaigns.setdefault(a.campaign_id, {"kind": a.kind, "accounts": 0})
                entry["accounts"] += 1
        return {
            "scenario": self.scenario.model_dump(),
            "accounts": accounts,
            "campaigns": campaigns,
        }


def build_world(scenario: Scenario, bank: DataBank | None = None) -> World:
    start = datetime.fromisoformat(scenario.start.replace("Z", "+00:00")).astimezone(UTC)
    start_ts = start.timestamp()
    window = SimWindow(
        start=start_ts, days=scenario.days, release_ts=start_ts + scenario.release_day * DAY
    )
    context = SimContext(
        seed=scenario.seed,
        window=window,
        bank=bank or DataBank(scenario.sharegpt_limit),
        template_bank=scenario.template_bank,
    )
    sources: list[tuple[SourceSpec, TrafficSource]] = []
    seen: dict[str, int] = {}
    for entry in scenario.sources:
        factory = FACTORIES.get(entry.kind)
        if factory is None:
            raise ValueError(
                f"unknown source kind {entry.kind!r}; known: {', '.join(sorted(FACTORIES))}"
            )
        count = entry.accounts
        if entry.scale:
            count = max(1, math.ceil(entry.accounts * scenario.scale))
        index = seen.get(entry.kind, 0)
        seen[entry.kind] = index + 1
        spec = SourceSpec(
            kind=entry.kind,
            accounts=count,
            name=entry.name or f"{entry.kind}-{index}",
            requests_per_account=entry.requests_per_account,
            options=dict(entry.options),
        )
        sources.append((spec, factory(context, spec)))
    return World(scenario, context, sources)


def write_world(world: World, out: Path) -> tuple[int, Path, Path]:
    """Write ``events.jsonl`` (time-ordered) and ``labels.json``; return the event count."""
    out.mkdir(parents=True, exist_ok=True)
    events_path, labels_path = out / "events.jsonl", out / "labels.json"
    count = 0
    with events_path.open("wb") as handle:
        for event, _ in world.events():
            handle.write(orjson.dumps(event) + b"\n")
            count += 1
    labels_path.write_bytes(orjson.dumps(world.labels(), option=orjson.OPT_INDENT_2))
    return count, events_path, labels_path
