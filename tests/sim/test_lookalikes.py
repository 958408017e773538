"""Legitimate automation must share the surface traits of attacks and keep the real differences."""

from __future__ import annotations

import ipaddress
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import orjson
import pytest

from distillguard.config import LimitsConfig
from distillguard.events import validate_event
from distillguard.gateway.validation import message_text, parse_chat_request
from distillguard.sim.benign_common import local_hour
from distillguard.sim.context import SimContext
from distillguard.sim.core import (
    CURRENT_MODEL,
    DAY,
    MINUTE,
    NEW_MODEL,
    SMALL_MODEL,
    SimRequest,
    to_event,
)
from distillguard.sim.lookalikes import FACTORIES
from distillguard.sim.resources import IDE_USER_AGENTS, TZ_OFFSETS, DataBank
from simkit import WINDOW, Generated, generate

OPAQUE = re.compile(r"^(acct|key)_[0-9a-f]{12}$")
COT = re.compile(
    r"step by step|chain of thought|reasoning|think (it )?through|show your work", re.I
)


@pytest.fixture(scope="module")
def bank() -> DataBank:
    return DataBank(sharegpt_limit=3000)


def make_ctx(bank: DataBank, seed: int = 11) -> SimContext:
    return SimContext(seed=seed, window=WINDOW, bank=bank)


@pytest.fixture(scope="module")
def enterprise(bank: DataBank) -> Generated:
    return generate(make_ctx(bank), "enterprise-pipeline", 1, requests_per_day=1500)


@pytest.fixture(scope="module")
def harness(bank: DataBank) -> Generated:
    return generate(make_ctx(bank), "eval-harness", 3, runs=4)


@pytest.fixture(scope="module")
def agents(bank: DataBank) -> Generated:
    return generate(make_ctx(bank), "coding-agent", 4)


def last_user(request: SimRequest) -> str:
    users = [m for m in request.body["messages"] if m["role"] == "user"]
    return message_text(users[-1]["content"])


def prompt_text(request: SimRequest) -> str:
    return "\n".join(message_text(m.get("content")) for m in request.body["messages"])


def bursts(times: Sequence[float], quiet: float = 10 * MINUTE) -> list[list[float]]:
    """Split sorted times wherever nothing happened for ``quiet`` seconds."""
    out: list[list[float]] = [[times[0]]]
    for a, b in zip(times, times[1:], strict=False):
        if b - a > quiet:
            out.append([])
        out[-1].append(b)
    return out


def check_tool_calls(messages: list[dict[str, object]], tool_names: set[str]) -> None:
    """Every tool result answers a call made by the assistant message right before it."""
    pending: set[str] = set()
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            assert m["content"] is None
            calls = m["tool_calls"]
            assert isinstance(calls, list)
            pending = set()
            for call in calls:
                assert call["type"] == "function" and call["id"].startswith("call_")
                assert call["function"]["name"] in tool_names
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
                pending.add(call["id"])
        elif m["role"] == "tool":
            assert m["tool_call_id"] in pending and isinstance(m["content"], str)
            pending.discard(str(m["tool_call_id"]))


def fingerprint(requests: Sequence[SimRequest]) -> list[bytes]:
    return [
        orjson.dumps([r.ts, r.account_id, r.api_key_id, r.ip, r.user_agent, r.body, r.answer])
        for r in requests
    ]


def test_same_seed_same_traffic_and_another_seed_differs(bank: DataBank) -> None:
    options: dict[str, dict[str, object]] = {
        "enterprise-pipeline": {"requests_per_day": 100},
        "eval-harness": {"runs": 1, "benchmark": "humaneval"},
        "coding-agent": {"tasks_per_day": 2},
    }
    for kind in FACTORIES:
        first = generate(make_ctx(bank, 1), kind, 1, **options[kind])[1]
        again = generate(make_ctx(bank, 1), kind, 1, **options[kind])[1]
        other = generate(make_ctx(bank, 2), kind, 1, **options[kind])[1]
        assert first and fingerprint(first) == fingerprint(again)
        assert fingerprint(first) != fingerprint(other)


@pytest.mark.parametrize("which", ["enterprise", "harness", "agents"])
def test_requests_are_ordered_valid_chat_requests_from_opaque_accounts(
    which: str, request: pytest.FixtureRequest
) -> None:
    accounts, requests = request.getfixturevalue(which)
    assert requests
    assert all(a.ts <= b.ts for a, b in zip(requests, requests[1:], strict=False))
    assert WINDOW.start <= requests[0].ts and requests[-1].ts < WINDOW.end
    known = {a.account_id: a for a in accounts}
    assert {r.account_id for r in requests} == set(known)
    for account in accounts:
        assert OPAQUE.match(account.account_id)
        assert account.label == "legitimate-automation"
        assert account.meta["created_at"] < WINDOW.start
    for r in requests[:: max(1, len(requests) // 500)]:
        parse_chat_request(orjson.dumps(r.body), LimitsConfig())
        tools = {t["function"]["name"] for t in r.body.get("tools", [])}
        check_tool_calls(r.body["messages"], tools)
        assert OPAQUE.match(r.api_key_id)
        ipaddress.ip_address(r.ip)
        assert r.answer
        ids = (r.account_id, r.api_key_id, r.user_agent, json.dumps(known[r.account_id].meta))
        assert not any(word in s.lower() for s in ids for word in ("attack", "benign", "legit"))
        validate_event(to_event(r, known[r.account_id].meta))


def test_enterprise_is_templated_single_turn_business_work_around_the_clock(
    enterprise: Generated,
) -> None:
    (account,), requests = enterprise
    assert account.meta["signup_channel"] == "enterprise"
    assert WINDOW.start - account.meta["created_at"] > 90 * DAY
    assert all([m["role"] for m in r.body["messages"]] == ["system", "user"] for r in requests)
    skeletons = Counter(last_user(r)[:40] for r in requests)
    assert sum(n for _, n in skeletons.most_common(4)) > 0.95 * len(requests)
    assert len({r.body["messages"][0]["content"] for r in requests}) <= 4
    assert len({int(r.ts % DAY // 3600) for r in requests}) >= 20
    instructions = {
        r.body["messages"][0]["content"] + last_user(r).split("\n\n")[0] for r in requests
    }
    assert not any(COT.search(text) for text in instructions)  # none asked for, ever
    assert np.mean([bool(COT.search(prompt_text(r))) for r in requests]) < 0.02  # data may say it
    assert {r.body["model"] for r in requests} <= {CURRENT_MODEL, SMALL_MODEL}
    assert {r.body["temperature"] for r in requests} <= {0.0, 0.3}
    assert len({r.body["max_tokens"] for r in requests}) <= 4
    assert any(r.body.get("response_format") == {"type": "json_object"} for r in requests)
    assert statistics.median(len(r.answer) for r in requests) < 600
    assert 6 * 1000 < len(requests) < 7 * 2000
    ips = {r.ip for r in requests}
    assert len(ips) <= 3
    assert len({ipaddress.ip_network(f"{ip}/24", strict=False) for ip in ips}) == 1
    assert 3 <= len({r.api_key_id for r in requests}) <= 5


def test_enterprise_batches_run_at_a_steady_machine_pace(enterprise: Generated) -> None:
    (account,), requests = enterprise
    tz = TZ_OFFSETS[account.meta["country"]]
    nightly = [r.ts for r in requests if last_user(r).startswith("Summarize")]
    assert np.mean([2 <= local_hour(t, tz) < 5 for t in nightly]) > 0.95
    gaps = np.diff(nightly)
    gaps = gaps[gaps < 60]
    assert len(gaps) > 1000 and gaps.std() / gaps.mean() < 0.25


def test_eval_harness_reruns_one_benchmark_in_short_cot_bursts(harness: Generated) -> None:
    accounts, requests = harness
    assert {a.meta["signup_channel"] for a in accounts} == {"research"}
    assert all("Python" in r.user_agent for r in requests)
    assert all(COT.search(prompt_text(r)) for r in requests)
    for account in accounts:
        mine = [r for r in requests if r.account_id == account.account_id]
        runs = bursts([r.ts for r in mine])
        assert 4 <= len(runs) <= 6  # four runs, perhaps one more on the new model
        assert all(b[-1] - b[0] < 60 * MINUTE for b in runs)
        assert len(mine) >= 4 * 164
        seen: dict[str, set[int]] = defaultdict(set)
        for r in mine:  # an item is its question, whatever the prompt format around it
            item = re.sub(r"^(Q|Question): ", "", max(last_user(r).splitlines(), key=len))
            seen[item].add(next(i for i, b in enumerate(runs) if b[0] <= r.ts <= b[-1]))
        assert np.mean([len(b) >= 2 for b in seen.values()]) > 0.9  # the same items, rerun
        new = [r.ts for r in mine if r.body["model"] == NEW_MODEL]
        assert not new or (len(bursts(new)) == 1 and min(new) > WINDOW.release_ts)
    samples = [r.body for r in requests if r.body.get("n", 1) > 1]
    assert all(b["temperature"] == 0.8 for b in samples)
    assert all(r.body["temperature"] == 0.0 for r in requests if r.body.get("n", 1) == 1)


def test_coding_agents_loop_over_tools_on_a_working_day(agents: Generated) -> None:
    accounts, requests = agents
    assert all(r.user_agent in IDE_USER_AGENTS for r in requests)
    assert all(r.body["tools"] and r.body["stream"] for r in requests)
    assert np.mean([any(m["role"] == "tool" for m in r.body["messages"]) for r in requests]) > 0.8
    tasks: dict[str, list[list[SimRequest]]] = defaultdict(list)
    for r in requests:  # a task starts with just the system prompt and the developer's ask
        if len(r.body["messages"]) == 2:
            tasks[r.account_id].append([])
        tasks[r.account_id][-1].append(r)
    steps = []
    for task in (t for mine in tasks.values() for t in mine):
        sizes = [len(r.body["messages"]) for r in task]
        assert sizes == list(range(2, 2 + 2 * len(task), 2))  # each step adds a call and result
        assert task[-1].body["messages"][-1]["role"] == "tool"
        steps.append(len(task))
        gaps = np.diff([r.ts for r in task])
        assert np.median(gaps) < 30  # machine speed inside a task
    assert min(steps) >= 5 and max(steps) <= 41 and len(set(steps)) > 5
    tz = {a.account_id: TZ_OFFSETS[a.meta["country"]] for a in accounts}
    assert np.mean([8 <= local_hour(r.ts, tz[r.account_id]) < 23 for r in requests]) > 0.95
    per_day = Counter(
        (r.account_id, int((r.ts + tz[r.account_id] * 3600) // DAY)) for r in requests
    )
    assert 10 <= statistics.median(per_day.values()) <= 400


def test_coding_agents_can_share_a_company(bank: DataBank) -> None:
    accounts, _ = generate(make_ctx(bank), "coding-agent", 4, org_size=2, tasks_per_day=1)
    cards = Counter(a.meta["payment_fingerprint"] for a in accounts)
    assert sorted(cards.values()) == [2, 2]
    assert {a.meta["signup_channel"] for a in accounts} == {"startup"}
