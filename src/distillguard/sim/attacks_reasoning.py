"""Reasoning harvest: the model's worked solutions and chain of thought, at scale.

The reports' central pattern: single-turn reasoning tasks wrapped in a few fixed scaffolds that
demand the full internal reasoning, sent around the clock by scripts with fixed parameters,
sweeping a task family systematically; plus "cot-reconstruction" prompts that hand over a
finished answer and ask for the reasoning that led to it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from distillguard.sim.attacks_content import (
    DEFAULT_DATASETS,
    REASONING_RE,
    Item,
    clip,
    reasoning_items,
    sharegpt_items,
    simulated_reasoning,
)
from distillguard.sim.attacks_infra import (
    CampaignSource,
    Lazy,
    Persona,
    active_span,
    body,
    build_personas,
    check_options,
    opt_bool,
    opt_float,
    opt_int,
    opt_strs,
    pick_model,
    script_sharing,
    volume,
    with_system,
)
from distillguard.sim.attacks_timing import scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import SimRequest, TrafficSource
from distillguard.sim.templates import bank

REASONING_OPTIONS = frozenset(
    {
        "datasets",
        "task_size",
        "sharegpt_share",
        "reconstruction_share",
        "synthetic_share",
        "templates",
        "system_prompt",
        "temperature",
        "max_tokens",
        "thinks",
    }
)


def fixed_params(spec: SourceSpec, rng: random.Random) -> dict[str, Any]:
    """One parameter signature for the whole campaign: scripts never vary their settings."""
    temperature = spec.options.get("temperature", rng.choice((0.0, 0.6, 0.7, 1.0)))
    ceiling = spec.options.get("max_tokens", rng.choice((8192, 16384, 16384, None)))
    key = rng.choice(("max_tokens", "max_completion_tokens"))
    params: dict[str, Any] = {"temperature": temperature, key: ceiling}
    if rng.random() < 0.5:
        params["reasoning_effort"] = "high"
    return params


def reasoning_harvest(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Scripted CoT harvest over reasoning-gym and reasoning-ish ShareGPT prompts.

    Default volume 400-800 requests per account, 24/7 in batch runs over the whole window
    (from day 0.2). Options: ``datasets`` (reasoning-gym names, default ten fast ones),
    ``task_size`` (1000 per dataset), ``sharegpt_share`` (0.25), ``reconstruction_share`` (0.25,
    cot-reconstruction prompts), ``synthetic_share`` (0.05, "write more problems with
    solutions"), ``templates`` (3 scaffolds per campaign), ``system_prompt`` (True),
    ``temperature``/``max_tokens`` (a fixed campaign value), ``thinks`` (True: reasoning tokens),
    plus the common ``start_day``, ``days``, ``payment_methods``, ``networks``, ``model``.
    """
    check_options(spec, REASONING_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.2)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "reasoning-harvest", script_sharing(spec, crng), start)
    harvest = tb.sample(crng, "reasoning-harvest", opt_int(spec, "templates", 3))
    recon = tb.sample(crng, "cot-reconstruction", 2)
    synth = tb.pick(crng, "synthetic-data")
    system = tb.pick(crng, "system-prompt").text if opt_bool(spec, "system_prompt", True) else None
    params = fixed_params(spec, crng)
    datasets = opt_strs(spec, "datasets", DEFAULT_DATASETS)
    size = opt_int(spec, "task_size", 1000)
    gym = Lazy(lambda: reasoning_items(ctx, datasets, size))
    chat = Lazy(lambda: sharegpt_items(ctx, "attack", REASONING_RE))
    share_chat = opt_float(spec, "sharegpt_share", 0.25)
    share_recon = opt_float(spec, "reconstruction_share", 0.25)
    share_synth = opt_float(spec, "synthetic_share", 0.05)
    thinks = opt_bool(spec, "thinks", True)
    n_accounts = max(1, spec.accounts)

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (400, 800)), start, end)
        tasks, prompts = gym.get(), chat.get()
        # Coverage sweep: each account walks the interleaved task list from its own offset.
        pos = p.index * len(tasks) // n_accounts
        for ts in times:
            if prompts and (not tasks or rng.random() < share_chat):
                item = rng.choice(prompts)
            else:
                item = tasks[pos % len(tasks)]
                pos += 1
            roll = rng.random()
            reasoning = ""
            if roll < share_recon:
                shown = item.gold or clip(item.answer, 2000)
                text = rng.choice(recon).render(question=item.question, answer=shown)
                answer = simulated_reasoning(rng, item)
            elif roll < share_recon + share_synth:
                text = synth.render(text=item.question)
                answer = practice_set(tasks, pos, rng.randint(4, 8))
            else:
                text = rng.choice(harvest).render(question=item.question)
                answer = item.answer
                reasoning = simulated_reasoning(rng, item) if thinks else ""
            messages = with_system(system, [{"role": "user", "content": text}])
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(pick_model(ctx, spec, rng, ts), messages, **params),
                answer=answer,
                reasoning=reasoning,
                harvest=True,
            )

    return CampaignSource(personas, stream)


def practice_set(tasks: list[Item], pos: int, k: int) -> str:
    """A "synthetic data" answer: recorded tasks and their worked solutions, numbered."""
    picked = [tasks[(pos + j) % len(tasks)] for j in range(k)]
    return "\n\n".join(
        f"{j}. Question: {it.question}\n{it.answer}" for j, it in enumerate(picked, start=1)
    )
