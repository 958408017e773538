"""``eval --live``: simulated traffic through the real gateway, from the attacker's side.

Every simulated request is sent with the official ``openai`` client to a running gateway with
the detection engine in its path. The simulated week runs in minutes: the gateway takes each
request's time from a simulation header (``sim_clock_header``), an injected clock, so timing
features see the simulated schedule. Harvest is what attackers actually received: answers
with status 200, counted by the client.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from distillguard.procs import gateway_stack
from distillguard.sim.core import SimRequest
from distillguard.sim.world import World
from distillguard.store.keys import KeyStore

SIM_CLOCK_HEADER = "x-distillguard-sim-time"


@dataclass
class LiveOutcome:
    label: str
    kind: str
    sent: int = 0
    served: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    harvest_sent: int = 0
    harvest_served: int = 0
    tokens_served: int = 0
    first_refused_at: int | None = None  # this account's request index


def _send(client: openai.OpenAI, req: SimRequest) -> tuple[int, int]:
    """(status, output tokens) of one simulated request through the gateway."""
    body: dict[str, Any] = dict(req.body)
    headers = {SIM_CLOCK_HEADER: f"{req.ts:.3f}"}
    try:
        if body.get("stream"):
            body.setdefault("stream_options", {"include_usage": True})
            tokens = 0
            for chunk in client.chat.completions.create(**body, extra_headers=headers):
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            return 200, tokens
        completion = client.chat.completions.create(**body, extra_headers=headers)
        return 200, completion.usage.completion_tokens if completion.usage else 0
    except openai.APIStatusError as exc:
        return exc.status_code, 0


def drive(
    world: World, base_url: str, secrets: dict[str, str], concurrency: int = 8
) -> dict[str, LiveOutcome]:
    """Send the world's requests in time order, ``concurrency`` at a time, and tally."""
    outcomes = {a.account_id: LiveOutcome(a.label, a.kind) for a in world.accounts()}
    lock = threading.Lock()
    local = threading.local()

    def client_for(account: str) -> openai.OpenAI:
        if not hasattr(local, "client"):
            local.client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        return local.client.with_options(api_key=secrets[account])  # type: ignore[no-any-return]

    def one(req: SimRequest) -> None:
        status, tokens = _send(client_for(req.account_id), req)
        with lock:
            out = outcomes[req.account_id]
            out.sent += 1
            out.harvest_sent += req.harvest
            if status == 200:
                out.served += 1
                if req.harvest:
                    out.harvest_served += 1
                    out.tokens_served += tokens
            else:
                out.refused[status] += 1
                if out.first_refused_at is None:
                    out.first_refused_at = out.sent

    batch: list[SimRequest] = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for req in world.requests():
            batch.append(req)
            if len(batch) == concurrency:
                list(pool.map(one, batch))
                batch = []
        list(pool.map(one, batch))
    return outcomes


def issue_keys(world: World, keys_db: Path) -> dict[str, str]:
    secrets: dict[str, str] = {}
    with KeyStore(keys_db) as store:
        for account in world.accounts():
            issued = store.add(account.account_id, label="sim", account_meta=account.meta or None)
            secrets[account.account_id] = issued.secret
    return secrets


def live_table(outcomes: dict[str, LiveOutcome]) -> str:
    groups: dict[tuple[str, str], list[LiveOutcome]] = defaultdict(list)
    for out in outcomes.values():
        if out.sent:
            groups[(out.label, out.kind)].append(out)
    lines = [
        "| label | group | accounts | requests | served | refused (403) | accounts refused | "
        "harvest served / sent | output tokens harvested |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = {"attack": 0, "legitimate-automation": 1, "benign": 2}
    for (label, kind), rows in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        sent = sum(r.sent for r in rows)
        harvest = sum(r.harvest_sent for r in rows)
        got = sum(r.harvest_served for r in rows)
        lines.append(
            f"| {label} | {kind} | {len(rows)} | {sent} | {sum(r.served for r in rows)} | "
            f"{sum(r.refused[403] for r in rows)} | "
            f"{sum(1 for r in rows if r.refused[403])} | "
            + (f"{got} / {harvest} ({got / harvest:.1%}) | " if harvest else "- | ")
            + (f"{sum(r.tokens_served for r in rows):,} |" if harvest else "- |")
        )
    return "\n".join(lines)


def run_live(world: World, workdir: Path, extra_settings: dict[str, Any] | None = None,
             concurrency: int = 8) -> tuple[dict[str, LiveOutcome], Path]:  # fmt: skip
    """Start the stack, issue a key per simulated account, drive the world through it."""
    settings: dict[str, Any] = {
        "detection": {"enabled": True},
        "sim_clock_header": SIM_CLOCK_HEADER,
        **(extra_settings or {}),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    secrets = issue_keys(world, workdir / "keys.sqlite")
    with gateway_stack(workdir, settings) as (base_url, config_path):
        outcomes = drive(world, base_url, secrets, concurrency)
    return outcomes, config_path
