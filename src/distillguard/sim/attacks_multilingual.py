"""Multilingual reasoning harvest: the same CoT harvest behind non-English scaffolds.

Distillers wanting reasoning data in other languages ask for the reasoning "in the user's
language". The question often stays English inside the foreign scaffold; arithmetic tasks are
posed entirely in the target language. Answers and reasoning are in that language too (stock
phrases around the recorded answer).
"""

from __future__ import annotations

from collections.abc import Iterator

from distillguard.sim.attacks_content import (
    Item,
    reasoning_items,
    simulated_reasoning,
    worked_solution,
)
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
    opt_strs,
    pick_model,
    script_sharing,
    volume,
    with_system,
)
from distillguard.sim.attacks_lang import LANGS, lang
from distillguard.sim.attacks_reasoning import fixed_params
from distillguard.sim.attacks_timing import scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import SimRequest, TrafficSource
from distillguard.sim.templates import bank

MULTILINGUAL_OPTIONS = frozenset(
    {"languages", "latin_share", "numeric_share", "datasets", "task_size", "templates",
     "temperature", "max_tokens"}
)  # fmt: skip
NON_LATIN = frozenset({"zh", "ru", "ar", "ko", "ja", "hi"})
WORD_DATASETS = ("gsm_symbolic", "family_relationships", "aiw", "syllogism", "time_intervals")


def multilingual_reasoning(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """CoT harvest in zh/ru/es/ar/ko/ja/... scaffolds demanding reasoning in that language.

    Default volume 300-700 requests per account, scripted 24/7 over the window (from day 0.3).
    Options: ``languages`` (codes; default every language the bank's multilingual templates are
    written in), ``templates`` (4 scaffolds per campaign, all but one in a non-Latin script),
    ``latin_share`` (0.2 of requests use the Latin-script scaffold: es/de/fr/pt/vi or an
    English one naming the language), ``numeric_share`` (0.5: arithmetic posed wholly in the
    target language), ``datasets`` (reasoning-gym word problems, kept in English inside the
    scaffold), ``task_size`` (1000), ``temperature``, ``max_tokens``, plus the common options.
    """
    check_options(spec, MULTILINGUAL_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.3)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(
        ctx, spec, "multilingual-reasoning", script_sharing(spec, crng), start
    )
    pool = tb.get("multilingual-reasoning")
    written = sorted({t.lang for t in pool if t.lang in LANGS})
    languages = [c for c in opt_strs(spec, "languages", written) if c in LANGS] or written
    usable = [t for t in pool if t.lang in languages or t.lang == "*"]
    # Mostly non-Latin scripts (the reported focus), with a Latin-script scaffold on the side.
    scripts = [t for t in usable if t.lang in NON_LATIN]
    latin = [t for t in usable if t.lang not in NON_LATIN]
    k = max(1, opt_int(spec, "templates", 4))
    main = crng.sample(scripts, min(len(scripts), k - 1 if latin else k)) or latin
    side = crng.sample(latin, min(len(latin), max(1, k - len(main))))
    latin_share = opt_float(spec, "latin_share", 0.2) if scripts else 1.0
    star_langs = [c for c in languages if c in NON_LATIN] or languages
    params = fixed_params(spec, crng)
    system = tb.pick(crng, "system-prompt").text if crng.random() < 0.3 else None
    size = opt_int(spec, "task_size", 1000)
    datasets = opt_strs(spec, "datasets", WORD_DATASETS)
    numeric = Lazy(lambda: reasoning_items(ctx, ("basic_arithmetic", "chain_sum"), size))
    words = Lazy(lambda: reasoning_items(ctx, datasets, size))
    numeric_share = opt_float(spec, "numeric_share", 0.5)
    n_accounts = max(1, spec.accounts)

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (300, 700)), start, end)
        nums, wordy = numeric.get(), words.get()
        pos = p.index * max(len(nums), len(wordy)) // n_accounts
        for ts in times:
            template = rng.choice(side if side and rng.random() < latin_share else main)
            code = template.lang if template.lang != "*" else rng.choice(star_langs)
            phrases = lang(code)
            use_numeric = bool(nums) and (not wordy or rng.random() < numeric_share)
            source = nums if use_numeric else wordy
            item = source[pos % len(source)]
            pos += 1
            question = item.question
            if use_numeric and item.expr:
                question = phrases.compute.replace("{expr}", item.expr)
            text = template.render(question=question, language=phrases.name)
            local = Item(question, worked_solution(rng, question, item.gold, code), item.gold, "")
            messages = with_system(system, [{"role": "user", "content": text}])
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(pick_model(ctx, spec, rng, ts), messages, **params),
                answer=local.answer,
                reasoning=simulated_reasoning(rng, local, code=code),
                harvest=True,
            )

    return CampaignSource(personas, stream)
