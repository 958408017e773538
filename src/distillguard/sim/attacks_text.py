"""Text-work harvests: the model as a reward model, and as a censor.

Rubric grading turns the model into a grader for someone else's RL: a fixed rubric, a candidate
response, "score 1-10 as JSON", the same scaffold tens of thousands of times, short outputs.
Censorship rewrites harvest "politically safe" versions of texts, many of them in Chinese.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final

from distillguard.sim.attacks_content import clip, sanitised, sharegpt_items
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
    pick_model,
    script_sharing,
    volume,
    with_system,
)
from distillguard.sim.attacks_timing import scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import SimRequest, TrafficSource
from distillguard.sim.templates import bank

# Rubric criteria as each bank's attacker words them (the rubric is scaffold too, so the heldout
# wording differs from the tuning one).
CRITERIA: Final[Mapping[str, tuple[tuple[str, str], ...]]] = MappingProxyType(
    {
        "tuning": (
            ("Correctness", "Is the information accurate and free of errors?"),
            ("Helpfulness", "Does the response address what the user actually needs?"),
            ("Completeness", "Does it cover every part of the request?"),
            ("Clarity", "Is it well organised and easy to follow?"),
            ("Reasoning", "Is the reasoning sound and explicitly justified?"),
            ("Instruction following", "Does it respect every constraint in the prompt?"),
            ("Harmlessness", "Does it avoid unsafe or inappropriate content?"),
            ("Conciseness", "Is it free of padding and repetition?"),
        ),
        "heldout": (
            ("Factual soundness", "claims would survive a careful fact-check"),
            ("Usefulness", "the person asking walks away able to act"),
            ("Coverage", "no sub-question left unanswered"),
            ("Legibility", "structure and wording help rather than hinder"),
            ("Rigour", "each inference is warranted by what precedes it"),
            ("Compliance", "format and length demands are honoured"),
            ("Safety", "nothing dangerous, hateful or deceptive"),
            ("Economy", "says it once, without filler"),
        ),
    }
)
_VERDICT_WORDS = ("strong", "adequate", "weak", "mixed", "solid", "poor", "excellent")


def make_rubric(rng: random.Random, bank_name: str) -> str:
    """One campaign rubric: 3-5 criteria, a style, a 1-10 scale line."""
    criteria = rng.sample(CRITERIA.get(bank_name, CRITERIA["tuning"]), rng.randint(3, 5))
    style = rng.randrange(3)
    if style == 0:
        lines = [f"- {name}: {desc}" for name, desc in criteria]
    elif style == 1:
        lines = [f"{i}. {name} - {desc}" for i, (name, desc) in enumerate(criteria, start=1)]
    else:
        weight = 100 // len(criteria)
        lines = [f"* {name} ({weight}%): {desc}" for name, desc in criteria]
    lines.append("Scale: 1 = unacceptable, 5 = acceptable, 10 = exemplary.")
    return "\n".join(lines)


def verdict(rng: random.Random, rubric: str, template_text: str) -> str:
    """The grader's short JSON answer, keyed the way the template asked."""
    keys = ("score", "justification")
    if '"points"' in template_text or "points" in template_text:
        keys = ("points", "reason")
    elif '"rating"' in template_text:
        keys = ("rating", "why")
    names = [ln.split(":")[0].split("(")[0].strip("-*0123456789. ") for ln in rubric.splitlines()]
    names = [n for n in names if n and not n.startswith("Scale")]
    picked = rng.sample(names, min(2, len(names)))
    reason = "; ".join(f"{rng.choice(_VERDICT_WORDS)} on {n.lower()}" for n in picked)
    return json.dumps({keys[0]: rng.randint(1, 10), keys[1]: reason.capitalize() + "."})


RUBRIC_OPTIONS = frozenset({"templates", "rubrics", "json_mode", "max_tokens"})


def rubric_grading(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """The model as a reward model: rubric + ShareGPT prompt/response, JSON score 1-10.

    Default volume 400-900 requests per account, scripted 24/7 (from day 0.5), temperature 0.
    Options: ``templates`` (1: extreme template reuse), ``rubrics`` (2 fixed rubrics per
    campaign), ``json_mode`` (True: response_format json_object), ``max_tokens`` (campaign
    value 200-512), plus the common options.
    """
    check_options(spec, RUBRIC_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.5)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "rubric-grading", script_sharing(spec, crng), start)
    templates = tb.sample(crng, "rubric-grading", opt_int(spec, "templates", 1))
    rubrics = [make_rubric(crng, tb.name) for _ in range(max(1, opt_int(spec, "rubrics", 2)))]
    system = tb.pick(crng, "system-prompt").text if crng.random() < 0.5 else None
    max_tokens = opt_int(spec, "max_tokens", crng.choice((200, 256, 300, 512)))
    json_mode = opt_bool(spec, "json_mode", True)
    pairs = Lazy(lambda: sharegpt_items(ctx, "attack"))

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (400, 900)), start, end, gap=(1.0, 8.0))
        items = pairs.get()
        for ts in times:
            item = rng.choice(items)
            rubric = rng.choice(rubrics)
            template = rng.choice(templates)
            text = template.render(
                rubric=rubric, question=clip(item.question, 1500), response=clip(item.answer, 3000)
            )
            messages = with_system(system, [{"role": "user", "content": text}])
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(
                    pick_model(ctx, spec, rng, ts),
                    messages,
                    temperature=0.0,
                    max_tokens=max_tokens,
                    response_format={"type": "json_object"} if json_mode else None,
                ),
                answer=verdict(rng, rubric, template.text),
                harvest=True,
            )

    return CampaignSource(personas, stream)


CENSOR_OPTIONS = frozenset({"templates", "zh_share", "answer_share", "max_tokens"})


def censorship_rewrite(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """ "Politically safe" rewrites of ShareGPT texts, many with Chinese scaffolds.

    Default volume 150-400 requests per account, scripted (from day 0.5). Options:
    ``templates`` (4 per campaign), ``zh_share`` (0.6 of requests use a Chinese scaffold when
    the campaign has one), ``answer_share`` (0.6: the text is a recorded assistant answer, else
    a user prompt), ``max_tokens`` (2048), plus the common options.
    """
    check_options(spec, CENSOR_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.5)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "censorship-rewrite", script_sharing(spec, crng), start)
    pool = tb.get("censorship-rewrite")
    k = opt_int(spec, "templates", 4)
    zh = [t for t in pool if t.lang == "zh"]
    other = [t for t in pool if t.lang != "zh"]
    zh_picked = crng.sample(zh, min(len(zh), max(1, k // 2)))
    other_picked = crng.sample(other, min(len(other), max(1, k - len(zh_picked))))
    zh_share = opt_float(spec, "zh_share", 0.6)
    answer_share = opt_float(spec, "answer_share", 0.6)
    params = {
        "temperature": crng.choice((0.2, 0.3, 0.5)),
        "max_tokens": opt_int(spec, "max_tokens", 2048),
    }
    texts = Lazy(lambda: sharegpt_items(ctx, "attack"))

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (150, 400)), start, end)
        items = texts.get()
        for ts in times:
            item = rng.choice(items)
            source = item.answer if rng.random() < answer_share else item.question
            source = clip(source, 1500)
            use_zh = bool(zh_picked) and rng.random() < zh_share
            template = rng.choice(zh_picked if use_zh else other_picked)
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(
                    pick_model(ctx, spec, rng, ts),
                    [{"role": "user", "content": template.render(text=source)}],
                    **params,
                ),
                answer=sanitised(rng, source),
                harvest=True,
            )

    return CampaignSource(personas, stream)
