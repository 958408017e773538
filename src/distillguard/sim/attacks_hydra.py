"""Hydra reseller networks: harvest spread thin over hundreds to thousands of accounts.

Resellers run many fraudulent accounts behind residential proxies, relay their own customers'
genuine traffic through them and mix the harvest script in. Alone each account is small and
mostly ordinary; together they send one scaffold tens of thousands of times, in synchronised
waves, paid with a handful of cards from a shared pool of proxy ranges.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from distillguard.sim.attacks_content import (
    Item,
    genuine_request,
    humaneval_items,
    reasoning_items,
    simulated_reasoning,
)
from distillguard.sim.attacks_infra import (
    CampaignSource,
    Lazy,
    Persona,
    Sharing,
    active_span,
    body,
    build_personas,
    check_options,
    opt_float,
    opt_int,
    pick_model,
    volume,
    with_system,
)
from distillguard.sim.attacks_timing import human, in_waves, wave_starts
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import SimRequest, TrafficSource
from distillguard.sim.resources import APP_USER_AGENTS, SDK_USER_AGENTS
from distillguard.sim.templates import Template, TemplateBank, bank


@dataclass(frozen=True, slots=True)
class Scaffold:
    """A network's shared harvest script: two templates, one system prompt, fixed parameters."""

    reasoning: Template
    coding: Template
    system: str | None
    params: dict[str, Any]
    coding_share: float

    @classmethod
    def draw(cls, tb: TemplateBank, rng: random.Random, coding_share: float) -> Scaffold:
        return cls(
            reasoning=tb.pick(rng, "reasoning-harvest"),
            coding=tb.pick(rng, "agentic-coding"),
            system=tb.pick(rng, "system-prompt").text if rng.random() < 0.7 else None,
            params={"temperature": rng.choice((0.0, 0.6, 1.0)), "max_tokens": 8192},
            coding_share=coding_share,
        )

    def fill(
        self, rng: random.Random, tasks: Sequence[Item], stubs: Sequence[Item]
    ) -> tuple[list[dict[str, Any]], Item]:
        if stubs and (not tasks or rng.random() < self.coding_share):
            item = rng.choice(stubs)
            text = self.coding.render(task=item.question)
        else:
            item = rng.choice(tasks)
            text = self.reasoning.render(question=item.question)
        return with_system(self.system, [{"role": "user", "content": text}]), item


def casual_params(rng: random.Random) -> dict[str, Any]:
    """What a real customer's client sends: mostly defaults, some streaming, some settings."""
    params: dict[str, Any] = {}
    if rng.random() < 0.4:
        params["stream"] = True
        if rng.random() < 0.5:
            params["stream_options"] = {"include_usage": True}
    if rng.random() < 0.3:
        params["temperature"] = rng.choice((0.2, 0.5, 0.7, 1.0))
    if rng.random() < 0.2:
        params["max_tokens"] = rng.choice((512, 1024, 2000, 4096))
    return params


HYDRA_OPTIONS = frozenset(
    {"mixin_share", "wave_hours", "ipv6_share", "batch_size", "coding_share", "task_size"}
)


def hydra_reseller(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Many small accounts mixing relayed genuine traffic with one synchronised harvest script.

    Default 10-30 requests per account over the whole window; the scenario sets the account
    count (1,000 at full scale). Options: ``mixin_share`` (a float or [lo, hi], default
    [0.4, 0.6]: genuine ShareGPT "mixin" traffic per account, ``harvest=False``), ``wave_hours``
    (3: harvest fires in network-wide waves this far apart), ``ipv6_share`` (0.3 of proxy
    ranges), ``batch_size`` (50 accounts created per signup batch), ``coding_share`` (0.3
    of harvest uses the coding scaffold), ``task_size`` (1000), plus the common options
    (``payment_methods`` default accounts/40, ``networks`` default accounts/4).
    """
    check_options(spec, HYDRA_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.0)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    n = max(1, spec.accounts)
    sharing = Sharing(
        payment_methods=opt_int(spec, "payment_methods", max(2, n // 40)),
        networks=opt_int(spec, "networks", max(3, n // 4)),
        networks_per_account=3,
        addresses_per_account=6,
        datacenter=False,
        ipv6_share=opt_float(spec, "ipv6_share", 0.3),
        user_agents=SDK_USER_AGENTS + APP_USER_AGENTS,
        agents_per_account=2,
        created_days_before=(3.0, 45.0),
        created_batches=max(1, n // opt_int(spec, "batch_size", 50)),
        channels=("self_serve", "self_serve", "education", "startup", "research"),
        keys_per_account=2,
    )
    personas = build_personas(ctx, spec, "hydra-reseller", sharing, start)
    scaffold = Scaffold.draw(tb, crng, opt_float(spec, "coding_share", 0.3))
    waves = wave_starts(crng, start, end, opt_float(spec, "wave_hours", 3.0))
    raw_share = spec.options.get("mixin_share", (0.4, 0.6))
    lo, hi = (raw_share, raw_share) if isinstance(raw_share, int | float) else raw_share
    size = opt_int(spec, "task_size", 1000)
    tasks = Lazy(lambda: reasoning_items(ctx, ("gsm_symbolic", "family_relationships"), size))
    stubs = Lazy(lambda: humaneval_items(ctx))

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        count = volume(rng, spec, (10, 30))
        n_mix = round(count * rng.uniform(float(lo), float(hi)))
        plan = [(t, True) for t in in_waves(rng, count - n_mix, waves, end)]
        plan += [(t, False) for t, _ in human(rng, n_mix, start, end, p.tz_offset)]
        plan.sort()
        mixin = ctx.bank.sharegpt("mixin")
        for ts, harvest in plan:
            reasoning = ""
            if harvest:
                messages, item = scaffold.fill(rng, tasks.get(), stubs.get())
                params = scaffold.params
                answer = item.answer
                reasoning = simulated_reasoning(rng, item)
            else:
                messages, answer = genuine_request(rng, rng.choice(mixin))
                params = casual_params(rng)
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(pick_model(ctx, spec, rng, ts), messages, **params),
                answer=answer,
                reasoning=reasoning,
                harvest=harvest,
            )

    return CampaignSource(personas, stream)
