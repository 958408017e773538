"""A researcher's evaluation harness: a public benchmark, chain-of-thought prompts, in bursts.

It looks like a capability sweep with reasoning elicitation: hundreds of problems with "think
step by step" sent at high concurrency. It is legitimate, and differs from a harvest the way
real evaluation does: the same public benchmark items recur in every run, runs are a few short
bursts in a week (after a code change; once against a newly released model), and it comes from
one research account on a university or cloud address.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from distillguard.sim.benign_common import (
    MergedSource,
    StreamFactory,
    account_id,
    is_weekend,
    key_id,
    local_days,
    local_midnight,
    lognormal,
    model_latency,
    pick_hour,
    worked_answer,
)
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import (
    CURRENT_MODEL,
    DAY,
    HOUR,
    MINUTE,
    NEW_MODEL,
    SimAccount,
    SimRequest,
    TrafficSource,
)
from distillguard.sim.resources import (
    SDK_USER_AGENTS,
    TZ_OFFSETS,
    account_meta,
    public_ipv4_block,
)

Message = dict[str, Any]

BENCHMARK_SEED = 42  # a public benchmark is the same items for everyone, every run
_GSM_SIZE = 250
_SHOTS_SEED = 7
# When researchers kick off runs, by local hour: working hours, and again after dinner.
_RUN_HOURS = (2, 1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 10, 14, 16, 16, 14, 12, 8, 8, 10, 10, 6, 4)
_HUMANEVAL_FORMATS = (
    (
        None,
        "Complete the following Python function. Think step by step about what it must do, "
        "then give the complete function in a single ```python code block.\n\n"
        "```python\n{prompt}```",
    ),
    (
        "You are an expert Python programmer.",
        "Let's think step by step. Write a solution to the following problem and make sure "
        "that it passes the tests:\n```python\n{prompt}\n```",
    ),
)
_GSM_FORMATS = (
    (None, "Q: {question}\nA: Let's think step by step."),
    (
        None,
        "Solve the following math problem step by step. The last line of your response should "
        'be of the form "Answer: $ANSWER" (without quotes) where $ANSWER is the answer to the '
        'problem.\n\n{question}\n\nRemember to put your answer on its own line after "Answer:".',
    ),
    (
        "Think step by step, then give the final answer after 'Answer:'.",
        "Question: {question}\nAnswer:",
    ),
)


@dataclass(frozen=True, slots=True)
class Item:
    """One benchmark problem as the harness sends it, and the recorded reply."""

    messages: tuple[Message, ...]
    answer: str
    code: bool  # a HumanEval problem (pass@k sampling applies)


def _humaneval_items(ctx: SimContext, fmt: int) -> list[Item]:
    system, template = _HUMANEVAL_FORMATS[fmt]
    items = []
    for p in ctx.bank.humaneval:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": template.format(prompt=p["prompt"])})
        answer = (
            f"Let's think step by step. `{p['entry_point']}` must do what its docstring says; "
            "I'll follow the specification and handle the edge cases it mentions.\n\n"
            f"```python\n{p['prompt']}{p['canonical_solution']}```"
        )
        items.append(Item(tuple(messages), answer, code=True))
    return items


def _gsm_items(ctx: SimContext, fmt: int, shots: int) -> list[Item]:
    """gsm_symbolic at a fixed seed; the few-shot format puts solved exemplars first."""
    system, template = _GSM_FORMATS[fmt]
    exemplars: list[Message] = []
    for shot in ctx.bank.reasoning_tasks("gsm_symbolic", shots, _SHOTS_SEED) if shots else ():
        exemplars.append({"role": "user", "content": template.format(question=shot["question"])})
        exemplars.append({"role": "assistant", "content": worked_answer(shot["answer"])})
    items = []
    for task in ctx.bank.reasoning_tasks("gsm_symbolic", _GSM_SIZE, BENCHMARK_SEED):
        messages = [{"role": "system", "content": system}] if system else []
        messages += exemplars
        messages.append({"role": "user", "content": template.format(question=task["question"])})
        answer = worked_answer(task["answer"]) + f"\n\nAnswer: {task['answer']}"
        items.append(Item(tuple(messages), answer, code=False))
    return items


@dataclass(frozen=True, slots=True)
class Run:
    """One harness invocation: every item of the benchmark, at some concurrency."""

    start: float
    model: str
    items: tuple[Item, ...]
    concurrency: int
    samples: int  # n per request (pass@k sampling at temperature 0.8); 1: greedy
    smoke_test: bool  # a few items one by one first, to check the plumbing


def _burst(run: Run, rng: random.Random) -> Iterator[tuple[float, Item]]:
    """Workers each take the next item as soon as their last request returns."""
    t = run.start
    if run.smoke_test:
        for item in run.items[:3]:
            yield t, item
            t += model_latency(item.answer) * lognormal(rng, 1.0, 0.3) + rng.uniform(1, 5)
        t += lognormal(rng, 3 * MINUTE, 0.5)
    free = [t + k * rng.uniform(0.005, 0.05) for k in range(run.concurrency)]
    heapq.heapify(free)
    for item in run.items:
        at = heapq.heappop(free)
        yield at, item
        busy = model_latency(item.answer) * (1 + 0.1 * run.samples) * lognormal(rng, 1.0, 0.3)
        heapq.heappush(free, at + busy + rng.uniform(0.001, 0.02))


def _body(run: Run, item: Item, max_tokens: int, seed: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": run.model, "messages": list(item.messages)}
    if run.samples > 1 and item.code:
        body.update(n=run.samples, temperature=0.8, top_p=0.95)
    else:
        body["temperature"] = 0.0
    body["max_tokens"] = max_tokens
    if seed is not None:
        body["seed"] = seed
    return body


@dataclass(frozen=True, slots=True)
class Harness:
    """One researcher's setup; it changes only when they edit it between runs."""

    account: SimAccount
    key: str
    ips: tuple[str, ...]  # the lab machine, and a cloud box some runs go from
    user_agent: str
    benchmark: str  # humaneval | gsm_symbolic | mixed
    tz: float
    max_tokens: int
    seed: int | None


def _items(ctx: SimContext, harness: Harness, rng: random.Random) -> tuple[Item, ...]:
    items: list[Item] = []
    if harness.benchmark in ("humaneval", "mixed"):
        items += _humaneval_items(ctx, rng.randrange(len(_HUMANEVAL_FORMATS)))
    if harness.benchmark in ("gsm_symbolic", "mixed"):
        fmt = rng.randrange(len(_GSM_FORMATS))
        items += _gsm_items(ctx, fmt, rng.choice((0, 0, 4, 8)))
    return tuple(items)


def _run_times(ctx: SimContext, harness: Harness, runs: int, rng: random.Random) -> list[float]:
    """Kick-off times on working days, in the researcher's local hours."""
    window = ctx.window
    days = local_days(window)
    times: list[float] = []
    for _ in range(1000 * runs):  # a window too short for a run gets none
        if len(times) >= runs:
            break
        t = local_midnight(window, harness.tz, rng.choice(days))
        t += pick_hour(rng, _RUN_HOURS) * HOUR
        weekend_off = is_weekend(t, harness.tz) and rng.random() < 0.7
        if window.start <= t < window.end - HOUR and not weekend_off:
            times.append(t)
    return sorted(times)


def _plan(ctx: SimContext, harness: Harness, runs: int, rng: random.Random) -> list[Run]:
    """A few runs on the current model; maybe one more on the new model soon after release."""
    items = _items(ctx, harness, rng)
    plan: list[Run] = []
    for t in _run_times(ctx, harness, runs, rng):
        if rng.random() < 0.3:  # the prompt format was edited since the last run
            items = _items(ctx, harness, rng)
        samples = rng.choice((1, 1, 5, 10))
        concurrency = rng.choice((8, 16, 32, 64))
        plan.append(Run(t, CURRENT_MODEL, items, concurrency, samples, rng.random() < 0.5))
    window = ctx.window
    if window.start <= window.release_ts < window.end - DAY and rng.random() < 0.6:
        t = window.release_ts + rng.uniform(0.3, 2.0) * DAY
        if t < window.end - HOUR:
            plan.append(Run(t, NEW_MODEL, items, rng.choice((16, 32)), 1, True))
    return sorted(plan, key=lambda r: r.start)


def _stream(
    ctx: SimContext, spec: SourceSpec, i: int, harness: Harness, runs: int
) -> Iterator[SimRequest]:
    rng = ctx.rng(spec.name, "harness", i)
    last = ctx.window.start
    for run in _plan(ctx, harness, runs, rng):
        ip = rng.choice(harness.ips)
        # One harness at a time: a run kicked off while another is going waits for it.
        planned = replace(run, start=max(run.start, last + rng.uniform(10, 60)))
        for t, item in _burst(planned, rng):
            if t >= ctx.window.end:
                return
            body = _body(run, item, harness.max_tokens, harness.seed)
            account = harness.account.account_id
            yield SimRequest(t, account, harness.key, ip, harness.user_agent, body, item.answer)
            last = t


def _harness(ctx: SimContext, spec: SourceSpec, i: int, rng: random.Random) -> Harness:
    country = rng.choice(("US", "US", "GB", "DE", "CA", "CN", "KR", "FR", "SG", "JP"))
    created = ctx.window.start - rng.uniform(20, 900) * DAY
    meta = account_meta(rng, created, "research", country=country)
    benchmarks = ("humaneval", "gsm_symbolic", "mixed")
    benchmark = str(spec.options.get("benchmark") or rng.choice(benchmarks))
    lab = public_ipv4_block(rng, 16).address(rng)  # a university network
    cloud = public_ipv4_block(rng, 24).address(rng)
    python_agents = [a for a in SDK_USER_AGENTS if "Python" in a]
    return Harness(
        account=SimAccount(account_id(ctx, spec, i), "legitimate-automation", spec.kind, meta=meta),
        key=key_id(ctx, spec, i, 0),
        ips=(lab, cloud) if rng.random() < 0.4 else (lab,),
        user_agent=rng.choice(python_agents),
        benchmark=benchmark,
        tz=TZ_OFFSETS.get(country, 0.0),
        max_tokens=rng.choice((1024, 2048, 4096)),
        seed=rng.choice((None, None, 0, 1234)),
    )


def eval_harness_source(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Researchers running HumanEval and/or gsm_symbolic (fixed seed) with CoT prompts.

    Each run sends the whole benchmark (164 and/or 250 items) at concurrency 8-64, greedy or
    pass@k (n=5/10 at temperature 0.8 for HumanEval); maybe one more run against the new model
    shortly after its release. ``requests_per_account``: sets the number of runs (about that
    many requests). Options: ``runs`` (default 3-6), ``benchmark`` (``humaneval``,
    ``gsm_symbolic`` or ``mixed``; default random per researcher).
    """
    accounts: list[SimAccount] = []
    streams: list[StreamFactory] = []
    for i in range(spec.accounts):
        rng = ctx.rng(spec.name, "researcher", i)
        harness = _harness(ctx, spec, i, rng)
        runs = int(spec.options.get("runs") or rng.randint(3, 6))
        if spec.requests_per_account:
            per_run = {"humaneval": 164, "gsm_symbolic": _GSM_SIZE}.get(harness.benchmark, 414)
            runs = max(1, round(spec.requests_per_account / per_run))
        accounts.append(harness.account)
        streams.append(functools.partial(_stream, ctx, spec, i, harness, runs))
    return MergedSource(accounts, streams)
