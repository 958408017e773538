"""The engine end to end on small hand-made traffic: causality, campaigns, NAT, the hook."""

from __future__ import annotations

import functools
import gc
import random
from typing import Any

import pytest

from distillguard.data.sharegpt import load_conversations
from distillguard.engine import BATCH_GC_THRESHOLD, KNOWN_ASK_HARVEST, Engine, batch_gc
from distillguard.events import Event
from distillguard.gateway.decision import RequestContext

T0 = 1_770_000_000.0
PROBLEMS = [
    "A train leaves at {a} km/h and another at {b} km/h; when do they meet {c} km apart?",
    "Prove that the sum of the first {a} odd numbers is a perfect square.",
    "How many ways can {a} people sit at a round table if {b} of them refuse to sit together?",
    "Find all integers x with x^2 = {a} mod {b}.",
]
HUMAN = [
    "Can you suggest a name for my bakery in {a}?",
    "What should I pack for a {a}-day hike in the rain?",
    "Write a short toast for my sister's {a}th birthday.",
    "My tomato plants have yellow leaves after {a} days of rain, what can I do?",
    "Explain like I'm five why the sky is blue.",
]


def event(ts: float, account: str, text: str, **extra: Any) -> Event:
    meta = extra.pop("meta", {})
    ip = extra.pop("ip", "198.51.100.7")
    request: dict[str, Any] = {"model": "m1", "messages": [{"role": "user", "content": text}]}
    request.update(extra)
    return {
        "ts": ts,
        "account_id": account,
        "ip": ip,
        "user_agent": "OpenAI/Python 1.54",
        "request": request,
        "response": {"status": 200, "completion_tokens": 300},
        "account_meta": meta,
    }


def harvest_text(rng: random.Random) -> str:
    problem = rng.choice(PROBLEMS).format(
        a=rng.randrange(2, 99), b=rng.randrange(2, 99), c=rng.randrange(2, 999)
    )
    return f"{problem}\nWrite out your internal reasoning step by step, in full detail."


def hydra_traffic(rng: random.Random, accounts: int, per_account: int) -> list[Event]:
    """A reseller: many accounts, few requests each, half genuine, shared payment methods."""
    events = []
    for i in range(accounts):
        meta = {"payment_fingerprint": f"pm_shared_{i % 3}", "created_at": T0 - 86400}
        start = T0 + i * 600
        for k in range(per_account):
            ts = start + k * rng.uniform(30, 300)
            if k % 2 == 0:
                text = harvest_text(rng)
            else:
                text = rng.choice(HUMAN).format(a=rng.randrange(2, 99))
            events.append(event(ts, f"hydra{i}", text, meta=meta, ip=f"203.0.{i % 7}.9"))
    return events


@functools.cache
def human_prompts() -> list[str]:
    """Real people's first prompts (ShareGPT), each used once."""
    return [c.first_user_text[:2000] for c in load_conversations(limit=900)]


def campus_traffic(rng: random.Random, students: int, per_student: int) -> list[Event]:
    """Students behind one NAT, active in the same hours, each asking their own questions."""
    prompts = iter(rng.sample(human_prompts(), students * per_student))
    events = []
    for i in range(students):
        meta = {"payment_fingerprint": f"pm_student_{i}", "created_at": T0 - 90 * 86400}
        for k in range(per_student):
            ts = T0 + k * 3600 + rng.uniform(0, 600)
            events.append(event(ts, f"student{i}", next(prompts), meta=meta, ip="192.0.2.10"))
    return events


def run(events: list[Event]) -> tuple[Engine, list[Any]]:
    engine = Engine()
    events.sort(key=lambda e: e["ts"])
    return engine, [engine.process(e) for e in events]


def test_verdicts_are_causal() -> None:
    rng = random.Random(1)
    events = sorted(hydra_traffic(rng, 12, 10) + campus_traffic(rng, 10, 10), key=lambda e: e["ts"])
    _, full = run([dict(e) for e in events])
    cut = len(events) // 2
    _, prefix = run([dict(e) for e in events[:cut]])
    assert [(v.account_id, v.score, v.flagged) for v in prefix] == [
        (v.account_id, v.score, v.flagged) for v in full[:cut]
    ]


def test_hydra_is_one_campaign_and_caught_while_students_behind_a_nat_are_not() -> None:
    rng = random.Random(2)
    engine, _ = run(hydra_traffic(rng, 30, 8) + campus_traffic(rng, 40, 15))
    hydra = [a for a in engine.accounts if a.startswith("hydra")]
    students = [a for a in engine.accounts if a.startswith("student")]
    assert all(engine.is_flagged(a) for a in hydra)
    assert not any(engine.is_flagged(a) for a in students)
    campaigns = {engine.campaign(a)[0] for a in hydra}
    assert None not in campaigns and len(campaigns) <= 3  # one per shared payment method
    assert all(engine.campaign(a)[0] is None for a in students), "a shared NAT linked students"
    reasons = engine.explain(hydra[-1])
    assert any("campaign of" in r and "payment" in r for r in reasons)


def test_late_hydra_head_is_flagged_on_its_first_request() -> None:
    rng = random.Random(3)
    engine, _ = run(hydra_traffic(rng, 20, 8))
    head = event(
        T0 + 10 * 86400,
        "fresh-head",
        harvest_text(rng),
        meta={"payment_fingerprint": "pm_shared_1", "created_at": T0 + 10 * 86400 - 60},
        ip="100.64.9.9",
    )
    verdict = engine.process(head)
    assert verdict is not None and verdict.flagged and verdict.request_index == 1
    assert verdict.campaign_id is not None


def test_decide_scores_the_request_before_it_is_served() -> None:
    engine = Engine()
    rng = random.Random(5)
    decisions = []
    for k in range(30):
        ctx = RequestContext(
            ts=T0 + k * 60, request_id=f"r{k}", account_id="solo", api_key_id="k",
            ip="203.0.113.5", user_agent="curl/8", model="m1",
            body={"model": "m1", "messages": [{"role": "user", "content": harvest_text(rng)}],
                  "logprobs": True, "top_logprobs": 10, "n": 4},
            prompt_tokens_estimate=50, max_tokens=None,
        )  # fmt: skip
        decisions.append(engine.decide(ctx).action)
    assert decisions[0] == "allow"
    assert decisions[-1] == "block"
    assert engine.accounts["solo"].requests == 30  # decide folded each request in once


def test_benign_humans_and_a_pipeline_stay_unflagged() -> None:
    rng = random.Random(4)
    events = []
    for i in range(30):
        for k in range(20):
            ts = T0 + k * 4000 + rng.uniform(0, 3000) + i
            events.append(event(ts, f"human{i}", rng.choice(HUMAN).format(a=rng.randrange(99))))
    for k in range(1500):  # a 24/7 summarisation pipeline on one account
        text = f"Summarise this support ticket in one sentence:\n\nTicket #{k}: " + rng.choice(
            HUMAN
        ).format(a=k)
        events.append(event(T0 + k * 120, "pipeline", text, temperature=0, max_tokens=200))
    engine, _ = run(events)
    assert not any(engine.is_flagged(a) for a in engine.accounts)


def test_refused_requests_without_messages_are_skipped() -> None:
    engine = Engine()
    assert engine.process({"ts": T0, "account_id": "a", "request": {"messages": []}}) is None
    assert "a" not in engine.accounts


def test_a_logprob_classifier_pipeline_is_not_a_soft_label_harvest() -> None:
    """Reading the logprobs of a one-token label (confidence scores) is ordinary; soft labels
    over whole answers are what distillation harvests."""
    rng = random.Random(6)
    prompts = human_prompts()
    classifier, harvester = [], []
    for k in range(600):
        ts = T0 + k * 150
        text = f"Label the sentiment of this review as positive or negative.\n\n{prompts[k]}"
        classifier.append(
            event(ts, "classifier", text, logprobs=True, top_logprobs=5, max_tokens=1,
                  temperature=0)
        )  # fmt: skip
        harvester.append(
            event(ts + 7, "harvester", harvest_text(rng), logprobs=True, top_logprobs=10, n=4)
        )
    engine, _ = run(classifier + harvester)
    assert not engine.is_flagged("classifier")
    assert engine.is_flagged("harvester")


def test_an_ask_the_semantic_layer_read_counts_as_harvest_for_every_account_after() -> None:
    from distillguard.detectors.semantic import START_AT, shared_spotter

    if shared_spotter() is None:
        import pytest

        pytest.skip("model package absent")
    # Worded in no lexicon family: only the semantic layer can read it as a grading request.
    ask = "Compare the two replies below and say which one is better, with a score out of ten."
    engine = Engine()
    rng = random.Random(5)
    later = event(T0 + 10_000, "b", f"{rng.choice(PROBLEMS).format(a=3, b=4, c=5)}\n{ask}")

    def harvest_of_b() -> float:
        before = engine.linker.campaign_of("b")[1].harvest if "b" in engine.accounts else 0.0
        engine.process(later)
        return engine.linker.campaign_of("b")[1].harvest - before

    assert harvest_of_b() == 0.0  # not known yet: nothing sampled it
    for i in range(START_AT + 2):
        problem = rng.choice(PROBLEMS).format(a=i + 2, b=i + 3, c=i + 4)
        engine.process(event(T0 + 60 * i, "a", f"{problem}\n{ask}"))
    assert engine.known_asks  # account a was sampled, and its ask read as one
    assert harvest_of_b() == KNOWN_ASK_HARVEST


def test_a_batch_fold_leaves_the_collector_as_it_found_it() -> None:
    before = gc.get_threshold()
    with batch_gc():
        assert gc.get_threshold() == (BATCH_GC_THRESHOLD, before[1], before[2])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), batch_gc():
        raise RuntimeError("a fold that fails")
    assert gc.get_threshold() == before
