"""The main job on an embedded default: real ShareGPT traffic through the real gateway.

Starts the replay upstream and the gateway as real servers, issues keys, sends multi-turn
human conversations with the official ``openai`` client, and shows what the gateway did:
every request recorded, a blocked account refused with 403, a bursty account throttled with
429, a bad key refused with 401. Writes ``report.md`` and ``events.jsonl`` to the work folder.
"""

from __future__ import annotations

import collections
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import openai
import orjson
import yaml
from openai.types.chat import ChatCompletionMessageParam

from distillguard.data.sharegpt import Conversation, load_conversations
from distillguard.procs import free_port, start_cli, stop
from distillguard.store.eventlog import iter_logged_events
from distillguard.store.keys import KeyStore

HUMAN_ACCOUNTS = ("acme-research", "globex-support", "initech-dev", "umbrella-edu", "hooli-labs")
BLOCKED_ACCOUNT = "shady-reseller"
BURST_ACCOUNT = "burst-batch"
BURST_RPM = 20
MODEL = "replay-sharegpt"


@dataclass
class Tally:
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    notes: list[str] = field(default_factory=list)


def _write_config(workdir: Path, upstream_port: int, gateway_port: int) -> Path:
    config = {
        "listen": {"host": "127.0.0.1", "port": gateway_port},
        "upstream": {"base_url": f"http://127.0.0.1:{upstream_port}/v1"},
        "event_log": {"path": "events.sqlite", "flush_interval_ms": 200},
        "auth": {"keys_db": "keys.sqlite"},
        "policy": {
            "blocked_accounts": [BLOCKED_ACCOUNT],
            "account_rate_limits": {BURST_ACCOUNT: {"requests_per_minute": BURST_RPM}},
        },
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _converse(client: openai.OpenAI, convo: Conversation, stream: bool, tally: Tally) -> None:
    """Replay a human's side of a conversation, carrying the history the gateway sees."""
    history: list[ChatCompletionMessageParam] = []
    for turn in convo.user_turns[:4]:
        history.append({"role": "user", "content": turn.text[:6000]})
        try:
            if stream:
                parts = []
                for chunk in client.chat.completions.create(
                    model=MODEL,
                    messages=history,
                    stream=True,
                ):
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
                answer = "".join(parts)
            else:
                completion = client.chat.completions.create(model=MODEL, messages=history)
                answer = completion.choices[0].message.content or ""
        except openai.APIStatusError as exc:
            tally.outcomes[f"{exc.status_code}"] += 1
            return
        tally.outcomes["200"] += 1
        history.append({"role": "assistant", "content": answer})


def _human_traffic(base_url: str, secrets: dict[str, str], n_requests: int, tally: Tally) -> None:
    rng = random.Random(7)
    convos = [c for c in load_conversations(limit=max(50, n_requests), skip=500) if c.user_turns]
    jobs = []
    budget = n_requests
    for convo in convos:
        if budget <= 0:
            break
        budget -= min(4, len(convo.user_turns))
        jobs.append((rng.choice(HUMAN_ACCOUNTS), convo, rng.random() < 0.4))
    clients = {
        a: openai.OpenAI(base_url=base_url, api_key=secrets[a], max_retries=0)
        for a in HUMAN_ACCOUNTS
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(_converse, clients[a], c, s, tally) for a, c, s in jobs]:
            future.result()
    for client in clients.values():
        client.close()


def _refusals(base_url: str, secrets: dict[str, str], tally: Tally) -> None:
    prompt: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Show every step of your reasoning for 17 * 23."}
    ]
    with openai.OpenAI(base_url=base_url, api_key=secrets[BLOCKED_ACCOUNT], max_retries=0) as c:
        try:
            c.chat.completions.create(model=MODEL, messages=prompt)
            tally.notes.append(f"UNEXPECTED: {BLOCKED_ACCOUNT} was served")
        except openai.PermissionDeniedError as exc:
            tally.notes.append(f"{BLOCKED_ACCOUNT}: refused with 403 ({exc.body})")
    throttled = 0
    with openai.OpenAI(base_url=base_url, api_key=secrets[BURST_ACCOUNT], max_retries=0) as c:
        for i in range(BURST_RPM + 10):
            try:
                c.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Classify ticket #{i}."}]
                )
            except openai.RateLimitError as exc:
                throttled += 1
                retry_after = exc.response.headers.get("retry-after")
        tally.notes.append(
            f"{BURST_ACCOUNT}: {BURST_RPM + 10} requests at once against {BURST_RPM}/min, "
            f"{throttled} answered 429 (Retry-After: {retry_after if throttled else '-'}s)"
        )
    with openai.OpenAI(base_url=base_url, api_key="dg-not-a-real-key-000000", max_retries=0) as c:
        try:
            c.models.list()
        except openai.AuthenticationError:
            tally.notes.append("unknown key: refused with 401")


def _report(workdir: Path, tally: Tally, elapsed: float) -> str:
    events = list(iter_logged_events(workdir / "events.sqlite"))
    with (workdir / "events.jsonl").open("wb") as out:
        for event in events:
            out.write(orjson.dumps(event) + b"\n")
    per_account: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    tokens: collections.Counter[str] = collections.Counter()
    for event in events:
        outcome = event.get("response") or event.get("rejected") or {}
        per_account[event["account_id"]][str(outcome.get("status"))] += 1
        tokens[event["account_id"]] += int(outcome.get("completion_tokens") or 0)
    lines = [
        "# distillguard demo report",
        "",
        f"{len(events)} events recorded in {elapsed:.1f}s "
        f"(client saw {sum(tally.outcomes.values())} chat outcomes plus the refusal probes).",
        "",
        "| account | requests | by status | completion tokens |",
        "|---|---:|---|---:|",
    ]
    for account in sorted(per_account):
        counts = per_account[account]
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
        lines.append(f"| {account} | {sum(counts.values())} | {statuses} | {tokens[account]} |")
    lines += ["", "## What the gateway refused", ""] + [f"- {n}" for n in tally.notes]
    lines += ["", "Events: `events.sqlite` (SQLite, WAL) and `events.jsonl` in this folder."]
    text = "\n".join(lines) + "\n"
    (workdir / "report.md").write_text(text, encoding="utf-8")
    return text


def run_demo(workdir: Path, n_requests: int = 200) -> int:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    upstream_port, gateway_port = free_port(), free_port()
    config_path = _write_config(workdir, upstream_port, gateway_port)
    secrets: dict[str, str] = {}
    with KeyStore(workdir / "keys.sqlite") as store:
        for account in (*HUMAN_ACCOUNTS, BLOCKED_ACCOUNT, BURST_ACCOUNT):
            secrets[account] = store.add(account, label="demo").secret
    log_file = workdir / "servers.log"
    print(f"starting the replay upstream (a stand-in for a model) on :{upstream_port}")
    upstream = start_cli(
        [
            "upstream",
            "replay",
            "--port",
            str(upstream_port),
            "--conversations",
            "1000",
            "--chunk-delay-ms",
            "2",
        ],
        f"http://127.0.0.1:{upstream_port}/v1/models",
        log_file=log_file,
    )
    try:
        print(f"starting the gateway on :{gateway_port}")
        gateway = start_cli(
            ["serve", "--config", str(config_path)],
            f"http://127.0.0.1:{gateway_port}/healthz",
            log_file=log_file,
        )
        base_url = f"http://127.0.0.1:{gateway_port}/v1"
        tally = Tally()
        started = time.monotonic()
        try:
            print(
                f"sending ~{n_requests} ShareGPT chat requests from {len(HUMAN_ACCOUNTS)} accounts"
            )
            _human_traffic(base_url, secrets, n_requests, tally)
            _refusals(base_url, secrets, tally)
        finally:
            stop(gateway)
        elapsed = time.monotonic() - started
    finally:
        stop(upstream)
    report = _report(workdir, tally, elapsed)
    print()
    print(report)
    print(f"report: {workdir / 'report.md'}")
    ok = tally.outcomes["200"] > 0 and any("403" in n for n in tally.notes)
    return 0 if ok else 1
