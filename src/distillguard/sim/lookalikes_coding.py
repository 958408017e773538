"""A developer's coding agent in the IDE: multi-turn tool loops on a human working day.

It resembles agentic-coding harvest (tools, code, long histories), and is legitimate: each task
is one conversation that grows step by step with real tool results (file contents, test output),
steps come seconds apart at machine speed, and tasks follow the developer's working day in
their time zone. Files are HumanEval problems and ShareGPT code snippets.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from distillguard.sim.benign_common import (
    MergedSource,
    Message,
    StreamFactory,
    account_id,
    is_weekend,
    key_id,
    local_days,
    local_midnight,
    lognormal,
    model_latency,
    pool_share,
)
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import DAY, HOUR, MINUTE, SimAccount, SimRequest, TrafficSource
from distillguard.sim.resources import (
    COUNTRIES,
    IDE_USER_AGENTS,
    TZ_OFFSETS,
    account_meta,
    payment_fingerprint,
    public_ipv4_block,
    residential_ip,
)


def _tool(name: str, description: str, **params: str) -> dict[str, Any]:
    properties = {p: {"type": "string", "description": d} for p, d in params.items()}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": list(params)},
        },
    }


TOOLS = (
    _tool("read_file", "Read a file in the workspace.", path="Path relative to the repo root."),
    _tool("write_file", "Create or overwrite a file.", path="Path.", content="Full contents."),
    _tool("run_shell", "Run a shell command in the repo root.", command="The command line."),
    _tool("search", "Search the workspace for a regex.", query="A regular expression."),
)
_AGENT_PROMPTS = (
    "You are a coding agent working in the user's repository. Use the tools to read, search and "
    "edit files and to run commands. Make minimal, focused changes and verify them by running "
    "the tests.",
    "You are an AI programming assistant inside the editor. Call tools to inspect the workspace "
    "before you change anything. Prefer small diffs and explain what you changed when done.",
    "You are a senior engineer pairing with the user. Investigate before editing, run the test "
    "suite after changes, and stop when the task is complete.",
)
_ASKS = (
    "Implement `{entry}` in {path}. The docstring says what it should do; make {test} pass.",
    "the tests for {entry} are failing, can you fix it? ({path})",
    "Please add the missing implementation of {entry} in {path} and run the tests.",
    "{entry} is still a stub, finish it and check with pytest",
)
_PACKAGES = ("src/app", "lib", "core", "src/utils", "pkg/tools", "backend/common")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CODE_BLOCK = re.compile(r"```[\w+-]*\n(.{150,3000}?)```", re.S)


@dataclass(frozen=True, slots=True)
class Task:
    """One thing the developer asks the agent to do, and the files it will touch."""

    ask: str
    entry: str
    path: str
    test: str
    stub: str
    solution: str
    related: tuple[tuple[str, str], ...]  # (path, content) of files it looks at on the way
    final: str  # the agent's closing message


def _task(
    rng: random.Random, problems: Sequence[dict[str, str]], snippets: Sequence[str], pkg: str
) -> Task:
    p = rng.choice(problems)
    entry = p["entry_point"]
    path, test = f"{pkg}/{entry}.py", f"tests/test_{entry}.py"
    related = [(f"{pkg}/{q['entry_point']}.py", q["prompt"]) for q in rng.sample(problems, 2)]
    related += [(f"{pkg}/helpers_{k}.py", rng.choice(snippets)) for k in range(rng.randint(0, 2))]
    final = (
        f"I implemented `{entry}` in `{path}` following its docstring, and the tests in "
        f"`{test}` now pass. The change is limited to that function."
    )
    ask = rng.choice(_ASKS).format(entry=entry, path=path, test=test)
    stub, solution = p["prompt"], p["prompt"] + p["canonical_solution"]
    return Task(ask, entry, path, test, stub, solution, tuple(related), final)


def _pytest(task: Task, rng: random.Random, passed: bool) -> str:
    """What pytest prints for the task's test file."""
    total = rng.randint(3, 9)
    if passed:
        return f"{task.test} {'.' * total} [100%]\n\n{total} passed in 0.{rng.randint(10, 99)}s"
    return (
        f"{task.test} F{'.' * (total - 1)} [100%]\n\n=== FAILURES ===\n___ test_{task.entry} ___"
        f"\n\n    def test_{task.entry}():\n>       assert {task.entry}(*case.args) == case.want"
        f"\nE       AssertionError\n\nFAILED {task.test}::test_{task.entry} - AssertionError\n"
        f"1 failed, {total - 1} passed in 0.{rng.randint(10, 99)}s"
    )


Action = tuple[str, dict[str, str], str]  # tool name, arguments, what the tool returned


def _actions(task: Task, steps: int, rng: random.Random) -> list[Action]:
    """The tool calls of one task, each with its result: explore, edit, test (maybe twice)."""
    test_cmd = f"python -m pytest -q {task.test}"
    wrote = f"Wrote {len(task.solution)} bytes to {task.path}"
    edit: Action = ("write_file", {"path": task.path, "content": task.solution}, wrote)
    head: list[Action] = [
        ("search", {"query": f"def {task.entry}"}, f"{task.path}:1: def {task.entry}("),
        ("read_file", {"path": task.path}, task.stub),
    ]
    tail: list[Action] = [edit, ("run_shell", {"command": test_cmd}, _pytest(task, rng, True))]
    if rng.random() < 0.3:  # the first attempt fails a test
        tail[1:1] = [("run_shell", {"command": test_cmd}, _pytest(task, rng, False)), edit]
    middle: list[Action] = []
    while len(head) + len(middle) + len(tail) < steps - 1:
        path, content = rng.choice(task.related)
        module = path.removesuffix(".py").replace("/", ".")
        grep = f"{task.path}:1: def {task.entry}(\n{task.test}:3: from {module} import *"
        middle.append(
            rng.choice(
                (
                    ("read_file", {"path": path}, content),
                    ("search", {"query": task.entry}, grep),
                    ("run_shell", {"command": "git status --short"}, f" M {task.path}"),
                )
            )
        )
    return head + middle + tail


@dataclass(frozen=True, slots=True)
class Developer:
    account: SimAccount
    keys: tuple[str, ...]
    ip: str  # home or office; a developer's machine sits in one place
    user_agent: str
    system: str
    tz: float
    temperature: float | None
    max_tokens: int | None
    approval: float  # share of edits and commands the developer approves by hand
    tasks_per_day: float
    pkg: str


def _body(dev: Developer, model: str, messages: list[Message]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "tools": list(TOOLS),
        "tool_choice": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if dev.temperature is not None:
        body["temperature"] = dev.temperature
    if dev.max_tokens is not None:
        body["max_tokens"] = dev.max_tokens
    return body


def _run_task(
    ctx: SimContext, dev: Developer, task: Task, t: float, rng: random.Random, key: str
) -> Iterator[SimRequest]:
    """One agent loop: each request carries the whole history so far."""
    steps = max(5, min(40, round(lognormal(rng, 12, 0.5))))
    model = ctx.window.model_at(t, rng, adoption_per_day=0.3)
    history: list[Message] = [
        {"role": "system", "content": dev.system},
        {"role": "user", "content": task.ask},
    ]
    for name, args, result in _actions(task, steps, rng):
        call_id = "call_" + "".join(rng.choices(_ID_CHARS, k=24))
        function = {"name": name, "arguments": json.dumps(args)}
        calls = [{"id": call_id, "type": "function", "function": function}]
        answer = json.dumps(calls)  # what the model emitted: the tool call itself
        yield _request(dev, key, t, _body(dev, model, list(history)), answer)
        history.append({"role": "assistant", "content": None, "tool_calls": calls})
        history.append({"role": "tool", "tool_call_id": call_id, "content": result})
        t += model_latency(answer) + _tool_time(dev, name, rng)
    yield _request(dev, key, t, _body(dev, model, list(history)), task.final)


def _request(dev: Developer, key: str, t: float, body: dict[str, Any], answer: str) -> SimRequest:
    return SimRequest(t, dev.account.account_id, key, dev.ip, dev.user_agent, body, answer)


def _tool_time(dev: Developer, name: str, rng: random.Random) -> float:
    """Reads are instant; edits and commands may wait for the developer's approval."""
    seconds = rng.uniform(0.05, 0.4)
    if name == "run_shell":
        seconds += lognormal(rng, 3.0, 0.8)
    if name in ("run_shell", "write_file") and rng.random() < dev.approval:
        seconds += lognormal(rng, 6.0, 0.9)
    return seconds


def _stream(
    ctx: SimContext, spec: SourceSpec, i: int, dev: Developer, snippets: Sequence[str]
) -> Iterator[SimRequest]:
    """Working days: tasks one after another from the morning, with a lunch break."""
    rng = ctx.rng(spec.name, "developer", i)
    window = ctx.window
    problems = ctx.bank.humaneval
    last = window.start
    for day in local_days(window):
        midnight = local_midnight(window, dev.tz, day)
        weekend = is_weekend(midnight + 12 * HOUR, dev.tz)
        if rng.random() > (0.15 if weekend else 0.9):
            continue
        t = max(last, midnight + rng.uniform(8.5, 10.5) * HOUR)
        stop = midnight + rng.choice((18.0, 18.5, 19.0, 20.0, 22.0)) * HOUR
        lunch = False
        for _ in range(max(1, round(lognormal(rng, dev.tasks_per_day, 0.5)))):
            if t >= stop:
                break
            if not lunch and t >= midnight + 12 * HOUR:
                t += rng.uniform(30, 70) * MINUTE
                lunch = True
            task = _task(rng, problems, snippets, dev.pkg)
            for request in _run_task(ctx, dev, task, t, rng, rng.choice(dev.keys)):
                if not window.start <= request.ts < window.end:
                    break
                yield request
                t = last = request.ts
            t += lognormal(rng, 20 * MINUTE, 0.8)  # review the diff, commit, a meeting


def _developer(ctx: SimContext, spec: SourceSpec, i: int, rng: random.Random) -> Developer:
    """One account per developer; ``org_size`` of them share a company's card and office."""
    org_size = int(spec.options.get("org_size") or 1)
    org = ctx.rng(spec.name, "org", i // org_size)
    office = public_ipv4_block(org, 24).address(org)
    card = payment_fingerprint(org)
    country = org.choice(COUNTRIES) if org_size > 1 else rng.choice(COUNTRIES)
    channel = "startup" if org_size > 1 else rng.choice(("self_serve", "self_serve", "startup"))
    created = ctx.window.start - lognormal(rng, 200 * DAY, 0.8) - DAY
    meta = account_meta(
        rng, created, channel, country=country, payment=card if org_size > 1 else None
    )
    keys = tuple(key_id(ctx, spec, i, k) for k in range(rng.randint(1, 2)))
    agent = rng.randrange(len(IDE_USER_AGENTS))
    return Developer(
        account=SimAccount(account_id(ctx, spec, i), "legitimate-automation", spec.kind, meta=meta),
        keys=keys,
        ip=office if org_size > 1 and rng.random() < 0.7 else residential_ip(rng),
        user_agent=IDE_USER_AGENTS[agent],
        system=_AGENT_PROMPTS[agent % len(_AGENT_PROMPTS)],
        tz=TZ_OFFSETS[country],
        temperature=rng.choice((None, 0.0, 0.2)),
        max_tokens=rng.choice((None, 4096, 8192)),
        approval=rng.uniform(0.1, 0.8),
        tasks_per_day=float(spec.options.get("tasks_per_day") or lognormal(rng, 6, 0.4)),
        pkg=rng.choice(_PACKAGES),
    )


def coding_agent_source(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Developers (one account each) using an IDE coding agent on working days.

    Tasks of 5-40 tool steps seconds apart, several tasks a day in local working hours: tens to
    a few hundred requests per working day. ``requests_per_account``: sets tasks per day so the
    week has about that many requests. Options: ``tasks_per_day`` (median, default ~6),
    ``org_size`` (developers per company sharing a card and office address, default 1).
    """
    snippets = [
        m.group(1)
        for c in pool_share(ctx, "business")
        for turn in c.turns
        if turn.role == "assistant"
        for m in _CODE_BLOCK.finditer(turn.text)
    ] or [p["prompt"] for p in ctx.bank.humaneval]
    accounts: list[SimAccount] = []
    streams: list[StreamFactory] = []
    for i in range(spec.accounts):
        rng = ctx.rng(spec.name, "profile", i)
        dev = _developer(ctx, spec, i, rng)
        if spec.requests_per_account:
            dev = replace(dev, tasks_per_day=spec.requests_per_account / (5 * 14))
        accounts.append(dev.account)
        streams.append(functools.partial(_stream, ctx, spec, i, dev, snippets))
    return MergedSource(accounts, streams)
