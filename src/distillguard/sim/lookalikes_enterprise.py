"""A company's document pipeline: templated, single-turn, around the clock, from one account.

It shares the surface of a harvest (a fixed system prompt and template, thousands of requests a
day, machine-regular timing, several keys) and differs where real pipelines do: its inputs are
the company's own records (tickets, emails, orders), its outputs are short labels, summaries
and drafts with no reasoning asked for, and it stays on one old enterprise account, one model
per job and a few static datacenter addresses.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from distillguard.data.sharegpt import Exchange
from distillguard.sim.benign_common import (
    MergedSource,
    StreamFactory,
    account_id,
    is_weekend,
    key_id,
    local_days,
    local_hour,
    local_midnight,
    pool_share,
)
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import (
    CURRENT_MODEL,
    DAY,
    HOUR,
    SMALL_MODEL,
    SimAccount,
    SimRequest,
    SimWindow,
    TrafficSource,
    stable_id,
)
from distillguard.sim.resources import SDK_USER_AGENTS, TZ_OFFSETS, account_meta, public_ipv4_block

_COMPANIES = ("Northwind Outfitters", "Bluefin Logistics", "Cedar & Pine Home",
              "Lumen Telecom", "Harbor Health Supplies", "Kestrel Software", "Orchard Grocers",
              "Atlas Travel")  # fmt: skip
_PRODUCTS = ("wireless earbuds", "standing desk", "espresso machine", "hiking backpack",
             "4K monitor", "air purifier", "running shoes", "smart thermostat", "office chair",
             "robot vacuum", "rain jacket", "blender")  # fmt: skip
_NAMES = ("Maria Garcia", "James Smith", "Wei Zhang", "Aisha Khan", "Lukas Mueller",
          "Sofia Rossi", "Kenji Tanaka", "Olivia Brown", "Mateo Silva", "Priya Patel",
          "Emma Dubois", "Noah Lee")  # fmt: skip
_ACTIONS = (("refund", "I would like a refund, it arrived damaged."),
            ("exchange", "Could I exchange it for a different size or colour?"),
            ("cancel", "Please cancel it before it ships."),
            ("status", "Can you tell me when it will arrive? The tracking has not moved."),
            ("address_change", "I need to change the delivery address to my office."))  # fmt: skip
_KEYWORDS = (("technical", ("error", "code", "bug", "install", "function", "api", "python")),
             ("billing", ("price", "pay", "invoice", "refund", "cost", "charge")),
             ("account", ("login", "password", "account", "sign in")),
             ("shipping", ("deliver", "ship", "order", "track")))  # fmt: skip
_NEGATIVE = ("not working", "problem", "issue", "wrong", "fail", "error", "broken", "can't")
_POSITIVE = ("thank", "great", "love", "awesome", "appreciate")
_SCRIPTS = (("ko", r"[\uac00-\ud7a3]"), ("ja", r"[\u3040-\u30ff]"), ("zh", r"[\u4e00-\u9fff]"),
            ("ru", r"[\u0400-\u04ff]"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Job:
    """One step of the pipeline: its prompts never change, only the record substituted in."""

    name: str
    system: str
    template: str  # str.format fields: the record's
    model: str
    temperature: float
    max_tokens: int
    json_mode: bool
    realtime: bool  # runs on records as they arrive; otherwise in the nightly batch


_SUMMARY = (
    "Summarize the support ticket below in at most three sentences for the agent handoff. "
    "Mention what the customer needs.\n\nTicket ID: {ticket}\nChannel: {channel}\n"
    "Customer tier: {tier}\n---\n{text}\n---"
)
_EXTRACT = (
    "Extract order_id, customer_name, product, quantity and requested_action from this email "
    "as a JSON object. Use null for missing fields.\n\nEmail:\n{text}"
)
_TRIAGE = (
    'Classify this customer message. Return JSON with keys "category" (billing, technical, '
    'account, shipping, other), "sentiment" (positive, neutral, negative), "language" '
    '(ISO 639-1) and "urgent" (true or false).\n\nMessage:\n{text}'
)
_REPLY = (
    'Draft a reply to the customer message below. Sign it "The {company} Support Team".\n\n'
    "From: {customer}\nSubject: {subject}\n\n{text}"
)


def _jobs(company: str) -> tuple[Job, ...]:
    """The company's four jobs; a company picks its models once and keeps them."""
    summarizer = f"You summarize customer support tickets for {company} agents. Be factual."
    extractor = "You extract structured fields from order emails. Reply with JSON only."
    triager = "You are a ticket triage model. Reply with a JSON object only."
    drafter = f"You draft replies for the {company} support team. Polite, concise, no promises."
    return (
        Job("summary", summarizer, _SUMMARY, CURRENT_MODEL, 0.0, 256, False, False),
        Job("extract", extractor, _EXTRACT, SMALL_MODEL, 0.0, 200, True, False),
        Job("triage", triager, _TRIAGE, SMALL_MODEL, 0.0, 100, True, True),
        Job("reply", drafter, _REPLY, CURRENT_MODEL, 0.3, 500, False, True),
    )


def _category(text: str) -> str:
    lower = text.lower()
    return next((c for c, words in _KEYWORDS if any(w in lower for w in words)), "other")


def _language(text: str) -> str:
    return next((lang for lang, pattern in _SCRIPTS if re.search(pattern, text)), "en")


def _sentiment(text: str) -> str:
    lower = text.lower()
    if any(w in lower for w in _NEGATIVE):
        return "negative"
    return "positive" if any(w in lower for w in _POSITIVE) else "neutral"


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.?!])\s|\n", text.strip(), maxsplit=1)[0][:180]


def _record(
    job: Job, exchange: Exchange, company: str, rng: random.Random
) -> tuple[dict[str, str], str]:
    """The fields substituted into ``job``'s template and the answer the model gave."""
    text = exchange.prompt[:3000]
    if job.name == "extract":
        action, sentence = rng.choice(_ACTIONS)
        order = {
            "order_id": f"{rng.choice('ABCDEFGH')}{rng.randrange(10**6, 10**7)}",
            "customer_name": rng.choice(_NAMES),
            "product": rng.choice(_PRODUCTS),
            "quantity": rng.randint(1, 4),
            "requested_action": action,
        }
        email = (
            f"Hello,\n\nabout my order {order['order_id']} ({order['quantity']} x "
            f"{order['product']}): {sentence}\n\nBest regards,\n{order['customer_name']}"
        )
        return {"text": email}, json.dumps(order)
    fields = {
        "text": text,
        "company": company,
        "ticket": f"T-{rng.randrange(10**5, 10**6)}",
        "channel": rng.choice(("email", "chat", "web form")),
        "tier": rng.choice(("free", "pro", "business")),
        "customer": rng.choice(_NAMES),
        "subject": _first_sentence(text)[:60],
    }
    category = _category(text)
    if job.name == "triage":
        label = {
            "category": category,
            "sentiment": _sentiment(text),
            "language": _language(text),
            "urgent": _sentiment(text) == "negative",
        }
        return fields, json.dumps(label)
    if job.name == "reply":
        return fields, exchange.answer[:1200] + f"\n\nBest regards,\nThe {company} Support Team"
    return fields, (
        f'The customer writes: "{_first_sentence(text)}" Topic: {category}. '
        f"Next step: route to the {category} queue and reply within one business day."
    )


def _arrivals(rng: random.Random, window: SimWindow, tz: float, per_day: float) -> list[float]:
    """Records arriving all day and night (customers are everywhere), most in office hours."""
    weights = [1.0 if 8 <= h < 18 else 0.35 if 18 <= h < 23 else 0.15 for h in range(24)]
    peak = per_day / sum(weights)
    times: list[float] = []
    t = window.start
    while True:
        hour = int(local_hour(t, tz))
        rate = peak * weights[hour] * (0.5 if is_weekend(t, tz) else 1.0) / HOUR
        t += rng.expovariate(rate)
        if t >= window.end:
            return times
        times.append(t)


def _nightly(
    rng: random.Random, window: SimWindow, tz: float, per_day: float, jobs: Sequence[Job]
) -> list[tuple[float, Job]]:
    """The nightly batch at 02:00 local: the day's tickets, then the day's order emails, one
    record after another at the worker's steady pace."""
    pace = rng.uniform(0.3, 0.9)  # seconds per request, set by the worker's concurrency
    runs: list[tuple[float, Job]] = []
    for d in local_days(window):
        t = local_midnight(window, tz, d) + 2 * HOUR + rng.uniform(0, 90)
        size = round(per_day * rng.uniform(0.85, 1.15) * (0.6 if is_weekend(t, tz) else 1.0))
        for n in range(size):
            t += pace * (1 + rng.gauss(0, 0.03))
            if window.start <= t < window.end:
                runs.append((t, jobs[0] if n < 0.6 * size else jobs[1]))
    return runs


@dataclass(frozen=True, slots=True)
class _Company:
    """What stays fixed about one customer company for the whole window."""

    name: str
    tz: float
    per_day: float
    keys: tuple[str, ...]
    ips: tuple[str, ...]  # static addresses in one datacenter /24; the batch host is the first
    user_agent: str
    documents: tuple[str, ...]  # its tickets and messages, in the order they come in
    threads: tuple[Exchange, ...]  # messages with the reply an agent sent, for the reply job


def _stream(ctx: SimContext, spec: SourceSpec, i: int, co: _Company) -> Iterator[SimRequest]:
    rng = ctx.rng(spec.name, "pipeline", i)
    jobs = _jobs(co.name)
    batch = _nightly(rng, ctx.window, co.tz, 0.45 * co.per_day, jobs[:2])
    live = [(t, jobs[2]) for t in _arrivals(rng, ctx.window, co.tz, 0.4 * co.per_day)]
    live += [(t + rng.uniform(1, 4), jobs[3]) for t, _ in live if rng.random() < 0.35]
    for n, (t, job) in enumerate(sorted(batch + live, key=lambda x: x[0])):
        record = Exchange(co.documents[n % len(co.documents)], "")
        if job.name == "reply":
            record = co.threads[n % len(co.threads)]
        fields, answer = _record(job, record, co.name, rng)
        body: dict[str, Any] = {
            "model": job.model,
            "messages": [
                {"role": "system", "content": job.system},
                {"role": "user", "content": job.template.format(**fields)},
            ],
            "temperature": job.temperature,
            "max_tokens": job.max_tokens,
        }
        if job.json_mode:
            body["response_format"] = {"type": "json_object"}
        ip = rng.choice(co.ips) if job.realtime else co.ips[0]
        key = co.keys[jobs.index(job) % len(co.keys)]
        yield SimRequest(t, account_id(ctx, spec, i), key, ip, co.user_agent, body, answer)


def _records(
    ctx: SimContext, i: int, companies: int
) -> tuple[tuple[str, ...], tuple[Exchange, ...]]:
    """Company ``i``'s own documents: paragraphs and messages from the business share of the
    pool, split between the companies so that no two hold the same record."""
    pool = pool_share(ctx, "business")
    own = [c for c in pool if int(stable_id(c.id, "owner"), 16) % companies == i] or pool
    threads = [e for c in own for e in c.exchanges() if 40 <= len(e.prompt) <= 3000]
    documents = [e.prompt for e in threads] + [
        p for c in own for e in c.exchanges() for p in e.answer.split("\n\n") if len(p) >= 80
    ]
    if not threads:
        raise ValueError("the business share of the ShareGPT pool is empty; load more of it")
    return tuple(documents), tuple(threads)


def _company(ctx: SimContext, spec: SourceSpec, i: int, rng: random.Random) -> _Company:
    opts = spec.options
    per_day = float(opts.get("requests_per_day") or rng.uniform(1500, 3000))
    if spec.requests_per_account:
        per_day = spec.requests_per_account / ctx.window.days
    block = public_ipv4_block(rng, 24)
    ips = {block.address(rng) for _ in range(int(opts.get("ips") or rng.randint(1, 3)))}
    keys = int(opts.get("keys") or rng.randint(3, 5))
    own_documents, own_threads = _records(ctx, i, spec.accounts)
    documents, threads = list(own_documents), list(own_threads)
    rng.shuffle(documents)
    rng.shuffle(threads)
    return _Company(
        name=rng.choice(_COMPANIES),
        tz=0.0,
        per_day=per_day,
        keys=tuple(key_id(ctx, spec, i, k) for k in range(keys)),
        ips=tuple(sorted(ips)),
        user_agent=rng.choice(SDK_USER_AGENTS[:7]),
        documents=tuple(documents),
        threads=tuple(threads),
    )


def enterprise_source(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Companies (one account each) running summarise/extract/triage/reply jobs on their data.

    A nightly batch at 02:00 local at a steady pace, plus records processed as they arrive
    around the clock (busiest in office hours). ``requests_per_account``: total over the window
    (default: ``requests_per_day`` x days). Options: ``requests_per_day`` (default 1,500-3,000),
    ``keys`` (API keys, default 3-5; each job uses its own), ``ips`` (static addresses in one
    datacenter /24, default 1-3).
    """
    accounts: list[SimAccount] = []
    streams: list[StreamFactory] = []
    for i in range(spec.accounts):
        rng = ctx.rng(spec.name, "company", i)
        country = rng.choice(("US", "US", "GB", "DE", "FR", "NL", "JP", "SG", "CA"))
        created = ctx.window.start - rng.uniform(300, 1500) * DAY
        meta = account_meta(rng, created, "enterprise", country=country)
        company = replace(_company(ctx, spec, i, rng), tz=TZ_OFFSETS[country])
        acct = SimAccount(account_id(ctx, spec, i), "legitimate-automation", spec.kind, meta=meta)
        accounts.append(acct)
        streams.append(functools.partial(_stream, ctx, spec, i, company))
    return MergedSource(accounts, streams)
