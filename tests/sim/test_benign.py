"""Human traffic must look human in the statistics a detector sees, and be built from data."""

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
from distillguard.sim.benign import FACTORIES
from distillguard.sim.benign_common import MAX_CHARS, MAX_TURNS, local_hour
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import MINUTE, SimAccount, SimRequest, to_event
from distillguard.sim.resources import TZ_OFFSETS, DataBank
from simkit import WINDOW, Generated, generate

OPAQUE = re.compile(r"^(acct|key)_[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def bank() -> DataBank:
    # The whole shipped file (~12k benign conversations): the populations below would exhaust a
    # smaller pool and repeat conversations across accounts, which is not what is under test.
    return DataBank(sharegpt_limit=20_000)


def make_ctx(bank: DataBank, seed: int = 7) -> SimContext:
    return SimContext(seed=seed, window=WINDOW, bank=bank)


@pytest.fixture(scope="module")
def humans(bank: DataBank) -> Generated:
    return generate(make_ctx(bank), "human", 150)


@pytest.fixture(scope="module")
def heavy(bank: DataBank) -> Generated:
    return generate(make_ctx(bank), "heavy-human", 4)


@pytest.fixture(scope="module")
def campus(bank: DataBank) -> Generated:
    return generate(make_ctx(bank), "campus", 120)


def user_texts(request: SimRequest) -> list[str]:
    return [message_text(m["content"]) for m in request.body["messages"] if m["role"] == "user"]


def per_account(requests: Sequence[SimRequest]) -> dict[str, list[SimRequest]]:
    out: dict[str, list[SimRequest]] = defaultdict(list)
    for r in requests:
        out[r.account_id].append(r)
    return out


def night_share(accounts: Sequence[SimAccount], requests: Sequence[SimRequest]) -> float:
    tz = {a.account_id: TZ_OFFSETS[a.meta["country"]] for a in accounts}
    return sum(local_hour(r.ts, tz[r.account_id]) < 6 for r in requests) / len(requests)


def fingerprint(requests: Sequence[SimRequest]) -> list[bytes]:
    return [
        orjson.dumps([r.ts, r.account_id, r.api_key_id, r.ip, r.user_agent, r.body, r.answer])
        for r in requests
    ]


def test_same_seed_same_traffic_and_another_seed_differs(bank: DataBank) -> None:
    for kind in FACTORIES:
        first = generate(make_ctx(bank, 1), kind, 3)[1]
        again = generate(make_ctx(bank, 1), kind, 3)[1]
        other = generate(make_ctx(bank, 2), kind, 3)[1]
        assert fingerprint(first) == fingerprint(again)
        assert fingerprint(first) != fingerprint(other)

    source = FACTORIES["human"](make_ctx(bank), SourceSpec("human", 5, "twice"))
    assert fingerprint(list(source.requests())) == fingerprint(list(source.requests()))


@pytest.mark.parametrize("which", ["humans", "heavy", "campus"])
def test_requests_are_ordered_valid_chat_requests_from_opaque_accounts(
    which: str, request: pytest.FixtureRequest
) -> None:
    accounts, requests = request.getfixturevalue(which)
    window = WINDOW
    assert requests
    assert all(a.ts <= b.ts for a, b in zip(requests, requests[1:], strict=False))
    assert window.start <= requests[0].ts and requests[-1].ts < window.end
    known = {a.account_id: a for a in accounts}
    assert {r.account_id for r in requests} <= set(known)
    for account in accounts:
        assert OPAQUE.match(account.account_id) and account.label == "benign"
        assert {"created_at", "signup_channel", "payment_fingerprint", "country"} <= set(
            account.meta
        )
        assert account.meta["created_at"] < window.start
    for r in requests[::7]:
        parsed = parse_chat_request(orjson.dumps(r.body), LimitsConfig())
        messages = r.body["messages"]
        assert parsed.model == r.body["model"] and messages[-1]["role"] == "user"
        assert {m["role"] for m in messages} <= {"system", "user", "assistant"}
        assert OPAQUE.match(r.api_key_id)
        ipaddress.ip_address(r.ip)
        assert r.answer and len(r.answer) <= MAX_CHARS
        labels = (r.account_id, r.api_key_id, r.user_agent, json.dumps(known[r.account_id].meta))
        assert not any(word in s.lower() for s in labels for word in ("attack", "benign"))
        event = validate_event(to_event(r, known[r.account_id].meta))
        assert event["account_meta"]["signup_channel"]


def test_each_request_carries_the_recorded_history(humans: Generated, bank: DataBank) -> None:
    _, requests = humans
    answers: dict[str, set[str]] = defaultdict(set)
    for r in requests:
        answers[r.account_id + orjson.dumps(r.body["messages"]).decode()].add(r.answer)
    recorded = {e.answer[:MAX_CHARS] for c in bank.sharegpt("benign") for e in c.exchanges()}
    with_system = 0
    for r in requests:
        messages = r.body["messages"]
        if messages[0]["role"] == "system":
            with_system += 1
            messages = messages[1:]
        assert len(messages) % 2 == 1 and len(messages) <= 2 * MAX_TURNS - 1
        assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2) + [
            "user"
        ]
        assert r.answer in recorded
        for j in range(1, len(messages), 2):  # each earlier answer is what that request got
            prefix = r.body["messages"][: len(r.body["messages"]) - len(messages) + j]
            key = r.account_id + orjson.dumps(prefix).decode()
            assert messages[j]["content"] in answers[key]
    assert 0.05 < with_system / len(requests) < 0.5  # some apps add one; most do not


def test_gaps_are_heavy_tailed_and_follow_what_was_read_and_typed(humans: Generated) -> None:
    _, requests = humans
    cvs = []
    within: list[tuple[float, float]] = []  # (gap, characters read + typed)
    for mine in per_account(requests).values():
        gaps = np.diff([r.ts for r in mine])
        if len(gaps) >= 9:
            cvs.append(gaps.std() / gaps.mean())
        for a, b in zip(mine, mine[1:], strict=False):
            if user_texts(b)[:-1] == user_texts(a) and b.ts - a.ts < 30 * MINUTE:
                within.append((b.ts - a.ts, len(a.answer) + len(user_texts(b)[-1])))
    assert len(cvs) > 30 and np.mean(np.array(cvs) > 1.0) > 0.9
    gap, size = np.array(within).T
    rank_corr = np.corrcoef(np.argsort(np.argsort(gap)), np.argsort(np.argsort(size)))[0, 1]
    assert rank_corr > 0.3
    assert gap.std() / gap.mean() > 0.5  # no fixed cadence
    assert Counter(np.round(gap)).most_common(1)[0][1] < 0.02 * len(gap)
    assert np.median(gap) > 20  # people read and type: seconds to minutes, not milliseconds


def test_people_sleep_at_night_local_time(
    humans: Generated, heavy: Generated, campus: Generated
) -> None:
    for accounts, requests in (humans, heavy, campus):
        assert night_share(accounts, requests) < 0.15


def test_volume_is_heavy_tailed_and_power_users_send_far_more(
    humans: Generated, heavy: Generated
) -> None:
    counts = sorted(Counter(r.account_id for r in humans[1]).values(), reverse=True)
    median = statistics.median(counts)
    assert 5 <= median <= 60  # tens a week
    assert sum(counts[: len(counts) // 10]) > 0.3 * sum(counts)  # the top tenth: most of it
    assert counts[0] > 5 * median
    heavy_counts = Counter(r.account_id for r in heavy[1]).values()
    assert len(heavy_counts) == 4
    assert all(10 * median <= c <= 1600 for c in heavy_counts)


def test_conversation_lengths_match_the_recorded_ones(humans: Generated, bank: DataBank) -> None:
    depth: dict[tuple[str, str], int] = {}
    for r in humans[1]:
        texts = user_texts(r)
        key = (r.account_id, texts[0])
        depth[key] = max(depth.get(key, 0), len(texts))
    replayed = np.array(list(depth.values()))
    openings = [c for c in bank.sharegpt("benign") if c.turns[0].role == "user"]  # dealt first
    source = np.array([min(len(list(c.exchanges())), MAX_TURNS) for c in openings])
    source = source[source > 0]
    assert abs(replayed.mean() - source.mean()) < 0.15 * source.mean()
    assert abs(np.mean(replayed == 1) - np.mean(source == 1)) < 0.08
    assert replayed.max() == MAX_TURNS


def test_humans_use_realistic_clients_addresses_and_models(humans: Generated) -> None:
    accounts, requests = humans
    bodies = [r.body for r in requests]
    by_account = per_account(requests)
    # Per account, not per request: a few heavy users would otherwise decide these shares.
    streams = [np.mean([r.body.get("stream", False) for r in mine]) for mine in by_account.values()]
    assert 0.5 < np.mean(np.array(streams) > 0.5) < 0.95
    defaults = [all("temperature" not in r.body for r in mine) for mine in by_account.values()]
    assert 0.3 < np.mean(defaults) < 0.9
    limits = [any("max_tokens" in r.body for r in mine) for mine in by_account.values()]
    assert np.mean(limits) < 0.35
    assert {b["model"] for b in bodies} == {"frontier-1", "frontier-2"}
    assert Counter(a.meta["signup_channel"] for a in accounts).most_common(1)[0][0] == "self_serve"
    ips = [len({r.ip for r in mine}) for mine in by_account.values()]
    agents = [len({r.user_agent for r in mine}) for mine in by_account.values()]
    assert statistics.median(ips) <= 2 and max(ips) > 2  # stable, with occasional changes
    assert max(agents) <= 2 and statistics.median(agents) == 1
    assert any(":" in r.ip for r in requests)  # some IPv6
    owners: dict[str, set[str]] = defaultdict(set)
    for r in requests:
        owners[r.ip].add(r.account_id)
    assert np.mean([len(accounts) > 1 for accounts in owners.values()]) < 0.02


def test_campus_shares_a_nat_and_a_timetable_but_not_its_conversations(
    campus: Generated, humans: Generated
) -> None:
    accounts, requests = campus
    ips = {r.ip for r in requests}
    assert 1 <= len(ips) <= 3
    assert len({ipaddress.ip_network(f"{ip}/24", strict=False) for ip in ips}) == 1
    assert {a.meta["signup_channel"] for a in accounts} == {"education"}
    assert len({a.meta["country"] for a in accounts}) == 1
    assert len({a.meta["payment_fingerprint"] for a in accounts}) == len(accounts)

    def crowded(requests: Sequence[SimRequest]) -> list[int]:
        buckets: dict[int, set[str]] = defaultdict(set)
        for r in requests:
            buckets[int(r.ts // (10 * MINUTE))].add(r.account_id)
        return sorted((len(s) for s in buckets.values()), reverse=True)

    assert crowded(requests)[2] >= 12  # deadlines and labs: many students at once
    assert crowded(requests)[0] > 2 * crowded(humans[1])[0]  # more people, spread out

    firsts = [(r.account_id, user_texts(r)[0]) for r in requests if len(user_texts(r)) == 1]
    pasters: dict[str, set[str]] = defaultdict(set)
    for account, text in firsts:
        pasters[text[-100:]].add(account)  # a pasted assignment ends the prompt it is in
    shared = {tail for tail, who in pasters.items() if len(who) >= 3}
    share = sum(text[-100:] in shared for _, text in firsts) / len(firsts)
    assert max(len(who) for who in pasters.values()) >= 8
    assert 0.03 < share < 0.2
    assert len({text for _, text in firsts}) > 0.75 * len(firsts)


def test_campus_options(bank: DataBank) -> None:
    accounts, requests = generate(make_ctx(bank), "campus", 20, nat_ips=1, shared_payment=True)
    assert len({r.ip for r in requests}) == 1
    assert len({a.meta["payment_fingerprint"] for a in accounts}) == 1


def test_people_differ_in_how_much_they_ask_about_code(humans: Generated) -> None:
    # Each person draws their own share of code conversations around the recorded rate, so
    # some people are mostly developers and many never paste code (a focus signal must not
    # find every person alike). A conversation is about code as the deck judges it: code in
    # its opening prompt or answer.
    shares = []
    for requests in per_account(humans[1]).values():
        openings = [r for r in requests if len(user_texts(r)) == 1]
        if len(openings) >= 8:
            code = [any(m in t for t in (user_texts(r)[0], r.answer) for m in ("```", "def "))
                    for r in openings]  # fmt: skip
            shares.append(sum(code) / len(code))
    assert len(shares) >= 30
    assert 0.12 <= statistics.mean(shares) <= 0.4
    assert sum(s >= 0.5 for s in shares) >= 3  # developers
    assert sum(s <= 0.05 for s in shares) >= 0.25 * len(shares)  # people who never code
