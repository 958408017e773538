"""One conformance suite for every registered detector (as river does for its estimators)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from distillguard.detectors.base import Detector, signal_of, state_from_dict, state_to_dict
from distillguard.detectors.registry import REGISTRY
from distillguard.events import Event
from distillguard.features.matcher import build_matcher
from distillguard.features.request import RequestFeatures, extract
from distillguard.population import Population

MATCHER = build_matcher()
PHRASES = [
    "Solve {n} + {m} and write out your internal reasoning step by step.",
    "Can you help me plan a trip to Lisbon for {n} days?",
    "Score the following response from 1 to 10 using the rubric: answer {n}",
    "def f(x):\n    return x * {n}\nWhy does this raise an error?",
    "Rewrite this text to be politically safe: item {n}",
    "Thanks! Can you explain step {m} in more detail?",
]


def make_event(rng: random.Random, i: int, account: str = "acct") -> Event:
    text = rng.choice(PHRASES).format(n=rng.randrange(10_000), m=rng.randrange(9))
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    if rng.random() < 0.3:
        messages = [
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": "earlier answer"},
            *messages,
        ]
    request: dict[str, Any] = {"model": rng.choice(["m1", "m1", "m2"]), "messages": messages}
    if rng.random() < 0.2:
        request.update(logprobs=True, top_logprobs=5, n=rng.choice([1, 4]))
    if rng.random() < 0.2:
        request["tools"] = [{"type": "function", "function": {"name": "run"}}]
    return {
        "ts": 1_770_000_000 + i * rng.uniform(1, 900),
        "account_id": account,
        "ip": f"198.51.{rng.randrange(4)}.{rng.randrange(250)}",
        "user_agent": rng.choice(["OpenAI/Python 1.5", "curl/8"]),
        "request": request,
        "response": {"status": 200, "completion_tokens": rng.randrange(1, 900)},
        "account_meta": {"created_at": 1_769_900_000, "payment_fingerprint": "pm_1"},
    }


def stream(seed: int, n: int) -> list[RequestFeatures]:
    rng = random.Random(seed)
    events = [make_event(rng, i) for i in range(n)]
    events.sort(key=lambda e: e["ts"])
    return [extract(e, MATCHER) for e in events]


def run(detector: Detector[Any], feats: list[RequestFeatures]) -> tuple[Any, list[float]]:
    pop = Population()
    state = detector.initial()
    values = []
    for f in feats:
        pop.observe(f.ts, f.account_id, f.model, f.segments, f.prompt_hash, 0.0)
        detector.update(state, f, pop)
        values.append(detector.value(state, pop))
    return state, values


DETECTORS = sorted(REGISTRY)


@pytest.mark.parametrize("name", DETECTORS)
def test_causal_a_prefix_gives_the_same_signals(name: str) -> None:
    detector = REGISTRY[name]()
    feats = stream(1, max(200, 3 * detector.test_min_events))
    _, full = run(detector, feats)
    cut = len(feats) // 2
    _, prefix = run(REGISTRY[name](), feats[:cut])
    assert prefix == full[:cut]


@pytest.mark.parametrize("name", DETECTORS)
def test_deterministic(name: str) -> None:
    feats = stream(2, 300)
    assert run(REGISTRY[name](), feats)[1] == run(REGISTRY[name](), feats)[1]


@pytest.mark.parametrize("name", DETECTORS)
def test_signals_are_valid_and_explained(name: str) -> None:
    detector = REGISTRY[name]()
    state, values = run(detector, stream(3, 300))
    assert all(0.0 <= v <= 1.0 for v in values)
    signal = signal_of(detector, state, Population())
    assert signal.name == name and signal.reason


@pytest.mark.parametrize("name", DETECTORS)
def test_state_is_bounded(name: str) -> None:
    detector = REGISTRY[name]()
    feats = stream(4, 6000)
    sizes = []
    pop = Population()
    state = detector.initial()
    for i, f in enumerate(feats, start=1):
        pop.observe(f.ts, f.account_id, f.model, f.segments, f.prompt_hash, 0.0)
        detector.update(state, f, pop)
        if i in (1000, 6000):
            sizes.append(len(orjson.dumps(state_to_dict(state))))
    assert sizes[1] <= max(sizes[0] * 1.1, sizes[0] + 64), f"state grew: {sizes}"
    assert sizes[1] <= 2048, f"{name} state is {sizes[1]} bytes"


@pytest.mark.parametrize("name", DETECTORS)
def test_state_round_trips_through_json(name: str) -> None:
    detector = REGISTRY[name]()
    feats = stream(5, 200)
    state, _ = run(detector, feats[:100])
    data = orjson.loads(orjson.dumps(state_to_dict(state), option=orjson.OPT_NON_STR_KEYS))
    restored = state_from_dict(type(state), data)
    pop = Population()
    for f in feats[:100]:
        pop.observe(f.ts, f.account_id, f.model, f.segments, f.prompt_hash, 0.0)
    for f in feats[100:]:
        pop.observe(f.ts, f.account_id, f.model, f.segments, f.prompt_hash, 0.0)
        detector.update(state, f, pop)
        REGISTRY[name]().update(restored, f, pop)
    assert signal_of(detector, restored, pop) == signal_of(detector, state, pop)
