"""The main job on an embedded default: simulated traffic through the real gateway.

Starts the replay upstream (a stand-in for a model) and the gateway with the detection
engine in its path, issues a key per simulated account, and sends two simulated days of
traffic — real ShareGPT conversations from people, legitimate automation, and every attack
archetype — with the official ``openai`` client on an accelerated clock. Detection and
blocking happen for real; the table shows what each kind of account received. Then the
static policy's refusals are shown (a blocked account, a rate limit, a bad key). Writes
``report.md``, ``events.sqlite`` and ``events.jsonl`` to the work folder.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import time
from pathlib import Path

import openai
import orjson
import yaml
from openai.types.chat import ChatCompletionMessageParam

from distillguard.demo_response import ADMIN_TOKEN, DEMO_POLICY, dashboard_tour, walkthrough
from distillguard.eval.live import SIM_CLOCK_HEADER, drive, issue_keys, live_table
from distillguard.procs import gateway_stack
from distillguard.sim.world import build_world, demo_scenario
from distillguard.store.eventlog import iter_logged_events
from distillguard.store.keys import KeyStore

BLOCKED_ACCOUNT = "shady-reseller"
BURST_ACCOUNT = "burst-batch"
BURST_RPM = 20
MODEL = "frontier-1"


def _refusals(base_url: str, secrets: dict[str, str]) -> list[str]:
    notes = []
    prompt: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is 17 * 23?"}]
    with openai.OpenAI(base_url=base_url, api_key=secrets[BLOCKED_ACCOUNT], max_retries=0) as c:
        try:
            c.chat.completions.create(model=MODEL, messages=prompt)
            notes.append(f"UNEXPECTED: {BLOCKED_ACCOUNT} was served")
        except openai.PermissionDeniedError as exc:
            notes.append(f"{BLOCKED_ACCOUNT} (static block list): refused with 403 ({exc.body})")
    throttled, retry_after = 0, None
    with openai.OpenAI(base_url=base_url, api_key=secrets[BURST_ACCOUNT], max_retries=0) as c:
        for i in range(BURST_RPM + 10):
            try:
                c.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Classify ticket #{i}."}]
                )
            except openai.RateLimitError as exc:
                throttled += 1
                retry_after = exc.response.headers.get("retry-after")
    notes.append(
        f"{BURST_ACCOUNT}: {BURST_RPM + 10} requests at once against {BURST_RPM}/min, "
        f"{throttled} answered 429 (Retry-After: {retry_after}s)"
    )
    with openai.OpenAI(base_url=base_url, api_key="dg-not-a-real-key-000000", max_retries=0) as c:
        try:
            c.models.list()
        except openai.AuthenticationError:
            notes.append("unknown key: refused with 401")
    return notes


def _event_summary(workdir: Path) -> list[str]:
    events = list(iter_logged_events(workdir / "events.sqlite"))
    with (workdir / "events.jsonl").open("wb") as out:
        for event in events:
            out.write(orjson.dumps(event) + b"\n")
    statuses: collections.Counter[str] = collections.Counter()
    actions: collections.Counter[str] = collections.Counter()
    for event in events:
        outcome = event.get("response") or event.get("rejected") or {}
        statuses[str(outcome.get("status"))] += 1
        actions[(event.get("decision") or {}).get("action", "-")] += 1
    return [
        f"{len(events)} events recorded (one per request) in `events.sqlite` and `events.jsonl`.",
        "By status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())),
        "By decision: " + ", ".join(f"{a}: {n}" for a, n in sorted(actions.items())),
    ]


def run_demo(workdir: Path, concurrency: int = 8, serve: bool = False) -> int:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    print("building two simulated days: people, legitimate automation, every attack archetype")
    world = build_world(demo_scenario())
    secrets = issue_keys(world, workdir / "keys.sqlite")
    with KeyStore(workdir / "keys.sqlite") as store:
        for account in (BLOCKED_ACCOUNT, BURST_ACCOUNT):
            secrets[account] = store.add(account, label="demo").secret
    (workdir / "policy.yaml").write_text(yaml.safe_dump(DEMO_POLICY), encoding="utf-8")
    settings = {
        "detection": {"enabled": True},
        "response": {
            "enabled": True,
            "policy_file": "policy.yaml",
            "decisions_db": "decisions.sqlite",
        },
        "admin": {"token": ADMIN_TOKEN},
        "sim_clock_header": SIM_CLOCK_HEADER,
        "policy": {
            "blocked_accounts": [BLOCKED_ACCOUNT],
            "account_rate_limits": {BURST_ACCOUNT: {"requests_per_minute": BURST_RPM}},
        },
    }
    started = time.monotonic()
    print("starting the replay upstream (a stand-in for a model) and the gateway")
    with gateway_stack(workdir, settings) as (base_url, _):
        print(f"sending the simulated traffic through {base_url} with the openai client")
        outcomes = drive(world, base_url, secrets, concurrency)
        notes = _refusals(base_url, secrets)
        print("acting on the biggest campaign through the admin API")
        response_notes = walkthrough(base_url, world, workdir / "keys.sqlite")
        response_notes += dashboard_tour(base_url)
        if serve:
            gateway = base_url.removesuffix("/v1")
            print(f"\nserving: dashboard at {gateway}/dashboard/ (admin token: {ADMIN_TOKEN})")
            print("press Ctrl-C to stop serving and write the report")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    elapsed = time.monotonic() - started
    text = "\n".join(
        [
            "# distillguard demo report",
            "",
            f"Two simulated days through the real gateway in {elapsed:.0f} s. Each row is what "
            "accounts of one kind sent and received; attacks are refused (403) once detected, "
            "legitimate traffic should never be.",
            "",
            live_table(outcomes),
            "",
            "## Static policy",
            "",
            *[f"- {n}" for n in notes],
            "",
            "## Response (policy ladder, campaign-wide action, appeal, audit)",
            "",
            "Policy: flag from score 0.35, degrade (no raw reasoning, no logprobs) from 0.45, "
            "block what the engine flags.",
            "",
            *[f"- {n}" for n in response_notes],
            "",
            "## Event log",
            "",
            *[f"- {line}" for line in _event_summary(workdir)],
        ]
    )
    (workdir / "report.md").write_text(text + "\n", encoding="utf-8")
    print()
    print(text)
    print(f"\nreport: {workdir / 'report.md'}")
    refused_legit = sum(o.refused[403] for o in outcomes.values() if o.label != "attack")
    caught = sum(1 for o in outcomes.values() if o.label == "attack" and o.refused[403])
    head_refused = any("first request: refused" in n for n in response_notes)
    ok = caught and not refused_legit and any("403" in n for n in notes) and head_refused
    return 0 if ok else 1
