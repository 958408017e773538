"""Rate-limit buckets, in memory and in a real Redis: one contract. Replicas that share Redis
share one allowance per account."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from distillguard.config import RateLimit, StaticPolicyConfig
from distillguard.policy.buckets import Buckets, Limit, MemoryBuckets, RedisBuckets
from distillguard.policy.rules import PolicyConfig
from distillguard.procs import free_port
from distillguard.store.decisions import DecisionsUnavailable
from policykit import T0, ask, policy_gateway
from servers import redis_server


@pytest.fixture(params=["memory", "redis"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Buckets]]:
    with contextlib.ExitStack() as stack:
        if request.param == "memory":
            shared = MemoryBuckets()
            yield lambda: shared
        else:
            url = stack.enter_context(redis_server(tmp_path / "redis"))
            opened: list[RedisBuckets] = []

            def fresh() -> Buckets:
                opened.append(RedisBuckets(url))
                return opened[-1]

            yield fresh
            for b in opened:
                b.close()


def test_all_limits_are_charged_or_none(connect: Callable[[], Buckets]) -> None:
    buckets = connect()
    rpm = Limit("r", "acct", 3, 1, 1)
    for i in range(3):
        assert buckets.take([rpm, Limit("t", "acct", 1000, 1, 100)], 0.0 + i * 0.001) == (0.0, -1)
    wait, index = buckets.take([Limit("t", "acct", 1000, 1, 100), rpm], 0.01)
    assert index == 1 and wait == pytest.approx(20.0, abs=0.1)  # one request every 20 s
    # Nothing was charged by the refused call: the token bucket still has its 700.
    assert buckets.take([Limit("t", "acct", 1000, 700, 700)], 0.01) == (0.0, -1)
    assert buckets.take([Limit("t", "acct", 1000, 1, 1)], 0.01)[0] > 0
    assert buckets.take([rpm], 20.01) == (0.0, -1)  # refilled one unit after 20 s


def test_adjust_refunds_and_charges_after_the_fact(connect: Callable[[], Buckets]) -> None:
    buckets = connect()
    assert buckets.take([Limit("t", "a", 600, 600, 600)], 0.0) == (0.0, -1)
    buckets.adjust("t", "a", 600, -300, 0.0)  # used half of the estimate
    assert buckets.take([Limit("t", "a", 600, 300, 300)], 0.0) == (0.0, -1)
    buckets.adjust("t", "a", 600, 600, 0.0)  # used more than estimated: the bucket owes
    wait, _ = buckets.take([Limit("t", "a", 600, 1, 1)], 0.0)
    assert wait == pytest.approx(60.1, abs=0.2)


def test_two_connections_share_one_allowance(connect: Callable[[], Buckets]) -> None:
    a, b = connect(), connect()
    limit = Limit("r", "acct", 4, 1, 1)
    granted = sum(x.take([limit], 0.0)[0] == 0 for x in (a, b, a, b, a, b))
    assert granted == 4


def test_redis_down_is_an_error_the_fail_mode_handles(tmp_path: Path) -> None:
    buckets = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    with pytest.raises(DecisionsUnavailable):
        buckets.take([Limit("r", "a", 5, 1, 1)], 0.0)


def test_replicas_sharing_redis_grant_the_limit_once(tmp_path: Path, replay_url: str) -> None:
    static = StaticPolicyConfig(account_rate_limits={"eve": RateLimit(requests_per_minute=4)})
    empty = PolicyConfig(rules=[])
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_server(tmp_path / "redis"))
        replicas = [
            stack.enter_context(
                policy_gateway(
                    tmp_path / name,
                    replay_url,
                    empty,
                    ["eve"],
                    redis_url=url,
                    buckets=RedisBuckets(url),
                    static=static,
                )  # fmt: skip
            )[0]
            for name in ("a", "b")
        ]
        outcomes = []
        for i in range(6):
            try:
                ask(replicas[i % 2], "eve", f"question {i}", T0 + i * 0.1)
                outcomes.append(200)
            except openai.RateLimitError as exc:
                outcomes.append(429)
                assert int(exc.response.headers["retry-after"]) >= 1
        assert outcomes == [200, 200, 200, 200, 429, 429]
