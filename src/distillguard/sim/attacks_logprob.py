"""Soft-label harvest: token distributions instead of single answers.

Distilling on logits needs ``logprobs`` with wide ``top_logprobs``, several samples per prompt
(``n`` > 1) at temperature 1.0. The prompts themselves are unremarkable, so the evidence is in the
parameter signature and the volume, not the text.
"""

from __future__ import annotations

from collections.abc import Iterator

from distillguard.sim.attacks_content import DEFAULT_DATASETS, reasoning_items, sharegpt_items
from distillguard.sim.attacks_infra import (
    CampaignSource,
    Lazy,
    Persona,
    active_span,
    body,
    build_personas,
    check_options,
    opt_float,
    opt_int,
    pick_model,
    script_sharing,
    volume,
)
from distillguard.sim.attacks_timing import scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import SimRequest, TrafficSource
from distillguard.sim.templates import bank

LOGPROB_OPTIONS = frozenset(
    {"top_logprobs", "n", "reasoning_share", "raw_share", "templates", "max_tokens", "task_size"}
)


def logprob_harvest(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """``logprobs`` + ``top_logprobs`` 5-20 + ``n`` 2-8 at temperature 1.0, scripted 24/7.

    Default volume 300-600 requests per account over the window (from day 0.5). Options:
    ``top_logprobs`` and ``n`` (campaign values; default drawn from 5-20 and 2-8),
    ``reasoning_share`` (0.4 reasoning-gym tasks, the rest ShareGPT attack-pool prompts),
    ``raw_share`` (0.35 prompts sent bare, the rest in one of the bank's "logprob" scaffolds),
    ``templates`` (2), ``max_tokens`` (campaign value from 256-1024), ``task_size`` (1000),
    plus the common options.
    """
    check_options(spec, LOGPROB_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.5)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "logprob-harvest", script_sharing(spec, crng), start)
    templates = tb.sample(crng, "logprob", opt_int(spec, "templates", 2))
    top = opt_int(spec, "top_logprobs", crng.randint(5, 20))
    n = opt_int(spec, "n", crng.randint(2, 8))
    max_tokens = opt_int(spec, "max_tokens", crng.choice((256, 512, 1024)))
    size = opt_int(spec, "task_size", 1000)
    gym = Lazy(lambda: reasoning_items(ctx, DEFAULT_DATASETS[:4], size))
    chat = Lazy(lambda: sharegpt_items(ctx, "attack"))
    reasoning_share = opt_float(spec, "reasoning_share", 0.4)
    raw_share = opt_float(spec, "raw_share", 0.35)

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (300, 600)), start, end)
        tasks, prompts = gym.get(), chat.get()
        for ts in times:
            use_tasks = bool(tasks) and (not prompts or rng.random() < reasoning_share)
            item = rng.choice(tasks if use_tasks else prompts)
            if rng.random() < raw_share:
                text = item.question
            else:
                text = rng.choice(templates).render(question=item.question)
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(
                    pick_model(ctx, spec, rng, ts),
                    [{"role": "user", "content": text}],
                    temperature=1.0,
                    n=n,
                    logprobs=True,
                    top_logprobs=top,
                    max_tokens=max_tokens,
                ),
                answer=item.answer,
                harvest=True,
            )

    return CampaignSource(personas, stream)
