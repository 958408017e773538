"""The evasive distiller: low and slow, human-shaped, no shared scaffold.

The hard case for detection. Each prompt is composed fresh by the bank's paraphraser and asks
for the reasoning softly and in ever different words; accounts keep local office hours in short
sessions, follow up on earlier answers ("can you explain step 3?"), mix in genuine traffic, sit
on residential addresses and mostly pay with their own cards. What remains is the aggregate:
reasoning- and code-heavy topics, a high share of reasoning asks, and many such accounts.
Every evasion can be switched off to measure what it buys.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from distillguard.sim.attacks_content import (
    CODE_RE,
    DEFAULT_DATASETS,
    REASONING_RE,
    Item,
    clip,
    genuine_request,
    humaneval_items,
    reasoning_items,
    sharegpt_items,
    simulated_reasoning,
)
from distillguard.sim.attacks_hydra import casual_params
from distillguard.sim.attacks_infra import (
    CampaignSource,
    Lazy,
    Persona,
    Sharing,
    active_span,
    body,
    build_personas,
    check_options,
    opt_bool,
    opt_float,
    opt_int,
    pick_model,
    script_sharing,
    volume,
)
from distillguard.sim.attacks_timing import human, scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import DAY, SimRequest, TrafficSource
from distillguard.sim.resources import APP_USER_AGENTS, SDK_USER_AGENTS
from distillguard.sim.templates import bank

EVASIVE_OPTIONS = frozenset(
    {"paraphrase", "human_timing", "followups", "mixin_share", "residential",
     "distinct_payment", "cot_share", "per_week", "task_size", "preamble"}
)  # fmt: skip


def _sharing(spec: SourceSpec, rng: random.Random) -> Sharing:
    n = max(1, spec.accounts)
    if not opt_bool(spec, "residential", True):
        return script_sharing(spec, rng)
    # Distinct cards mostly: with 0.92 n cards dealt in order, ~8% of accounts share one.
    cards = n if not opt_bool(spec, "distinct_payment", True) else max(1, round(n * 0.92))
    return Sharing(
        payment_methods=opt_int(spec, "payment_methods", cards),
        networks=opt_int(spec, "networks", n),
        addresses_per_account=2,
        datacenter=False,
        ipv6_share=0.2,
        user_agents=APP_USER_AGENTS + SDK_USER_AGENTS,
        created_days_before=(20.0, 300.0),
        created_batches=n,
        channels=("self_serve", "self_serve", "self_serve", "education", "startup"),
    )


def evasive(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Paraphrased, human-timed, follow-up-rich CoT harvest interleaved with genuine traffic.

    Default volume 40-120 requests per account per week of campaign (whole window from day 0).
    Options (each evasion can be turned off): ``paraphrase`` (True; False = one shared bank
    scaffold), ``human_timing`` (True; False = scripted 24/7), ``followups`` (0.35 chance a
    request in a session follows up on the previous answer; 0 = none), ``mixin_share`` (0.3
    genuine ShareGPT "mixin" requests, ``harvest=False``), ``residential`` (True; False =
    shared cloud /24s and cards), ``distinct_payment`` (True), ``cot_share`` (0.7 of fresh
    prompts ask for the reasoning), ``per_week`` ([40, 120]), ``task_size`` (1000),
    ``preamble`` (False; True = every harvest request opens with the account's own fixed
    few-shot exchange, a worked example, so that all of them share a first message), plus the
    common options.
    """
    check_options(spec, EVASIVE_OPTIONS)
    start, end = active_span(ctx, spec)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "evasive", _sharing(spec, crng), start)
    paraphrase = opt_bool(spec, "paraphrase", True)
    fixed = tb.pick(crng, "reasoning-harvest")
    human_timing = opt_bool(spec, "human_timing", True)
    followups = opt_float(spec, "followups", 0.35)
    mixin_share = opt_float(spec, "mixin_share", 0.3)
    cot_share = opt_float(spec, "cot_share", 0.7)
    lo, hi = spec.options.get("per_week", (40, 120))
    weeks = (end - start) / (7 * DAY)
    size = opt_int(spec, "task_size", 1000)
    preamble = opt_bool(spec, "preamble", False)
    # Diverse material: people ask about many things, so no single dataset dominates.
    chat = Lazy(lambda: sharegpt_items(ctx, "attack", REASONING_RE) + sharegpt_items(
        ctx, "attack", CODE_RE))  # fmt: skip
    gym = Lazy(lambda: reasoning_items(ctx, DEFAULT_DATASETS, size))
    stubs = Lazy(lambda: humaneval_items(ctx))

    def pick_item(rng: random.Random) -> Item:
        roll = rng.random()
        pools = (chat.get(), gym.get(), stubs.get())
        pool = pools[0] if roll < 0.5 else pools[1] if roll < 0.8 else pools[2]
        return rng.choice(pool or pools[1])

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        count = volume(rng, spec, (max(1, round(lo * weeks)), max(1, round(hi * weeks))))
        if human_timing:
            plan = human(rng, count, start, end, p.tz_offset)
        else:
            plan = [(t, i // 5) for i, t in enumerate(scripted(rng, count, start, end))]
        mixin = ctx.bank.sharegpt("mixin")
        last: dict[int, tuple[str, Item]] = {}  # session -> (prompt, item) of its last harvest
        opening: list[dict[str, Any]] = []
        if preamble:
            example = pick_item(rng)
            opening = [
                {
                    "role": "user",
                    "content": tb.paraphraser.compose(rng, example.question, cot=True),
                },
                {"role": "assistant", "content": clip(example.answer, 1500)},
            ]
        for ts, session in plan:
            reasoning = ""
            params: dict[str, Any] = casual_params(rng)
            if rng.random() < mixin_share:
                messages, answer = genuine_request(rng, rng.choice(mixin))
                harvest = False
            elif session in last and rng.random() < followups:
                prompt, item = last[session]
                messages = [
                    *opening,
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": clip(item.answer, 3000)},
                    {"role": "user", "content": tb.paraphraser.followup(rng)},
                ]
                answer = simulated_reasoning(rng, item, sentences=(4, 10))
                reasoning = simulated_reasoning(rng, item)
                harvest = True
            else:
                item = pick_item(rng)
                if paraphrase:
                    prompt = tb.paraphraser.compose(
                        rng, item.question, cot=rng.random() < cot_share
                    )
                else:
                    prompt = fixed.render(question=item.question)
                messages = [*opening, {"role": "user", "content": prompt}]
                answer, reasoning = item.answer, simulated_reasoning(rng, item)
                last[session] = (prompt, item)
                harvest = True
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(pick_model(ctx, spec, rng, ts), messages, **params),
                answer=answer,
                reasoning=reasoning,
                harvest=harvest,
            )

    return CampaignSource(personas, stream)
