from __future__ import annotations

from typing import Any

from distillguard.config import RateLimit, StaticPolicyConfig
from distillguard.gateway.decision import RequestContext
from distillguard.policy.buckets import MemoryBuckets
from distillguard.policy.ratelimit import TokenBucket
from distillguard.policy.static import StaticPolicy


def ctx(ts: float, account: str = "a", *, ip: str = "198.51.100.1", key: str = "k1",
        tokens: int = 10, rid: str = "r") -> RequestContext:  # fmt: skip
    return RequestContext(
        ts=ts, request_id=rid, account_id=account, api_key_id=key, ip=ip, user_agent="",
        model="m", body={}, prompt_tokens_estimate=tokens, max_tokens=None,
    )  # fmt: skip


def done(rid: str, ts: float, prompt: int, completion: int) -> dict[str, Any]:
    return {
        "ts": ts, "request_id": rid, "account_id": "a", "request": {"messages": []},
        "response": {"status": 200, "prompt_tokens": prompt, "completion_tokens": completion},
    }  # fmt: skip


def test_block_lists_name_their_reason() -> None:
    policy = StaticPolicy(
        StaticPolicyConfig(
            blocked_accounts=["evil"], blocked_keys=["k9"], blocked_cidrs=["203.0.113.0/24"]
        )
    )
    assert policy.decide(ctx(0, "evil")).action == "block"
    assert "k9" in policy.decide(ctx(0, key="k9")).reasons[0]
    by_ip = policy.decide(ctx(0, ip="203.0.113.77"))
    assert by_ip.action == "block" and "203.0.113.0/24" in by_ip.reasons[0]
    assert policy.decide(ctx(0, ip="203.0.114.1")).action == "allow"
    assert policy.decide(ctx(0, ip="not-an-ip")).action == "allow"


def test_requests_per_minute_with_retry_after_and_refill() -> None:
    policy = StaticPolicy(StaticPolicyConfig(default_rate_limit=RateLimit(requests_per_minute=6)))
    assert [policy.decide(ctx(0.0)).action for _ in range(6)] == ["allow"] * 6
    refused = policy.decide(ctx(0.0))
    assert refused.action == "throttle" and refused.retry_after_s == 10  # 6/min: one per 10 s
    assert policy.decide(ctx(5.0)).action == "throttle"
    assert policy.decide(ctx(10.0)).action == "allow"
    assert policy.decide(ctx(10.0, "other")).action == "allow"  # buckets are per account


def test_tokens_per_minute_uses_real_usage() -> None:
    policy = StaticPolicy(
        StaticPolicyConfig(account_rate_limits={"a": RateLimit(tokens_per_minute=1000)})
    )
    assert policy.decide(ctx(0.0, tokens=100, rid="r1")).action == "allow"
    policy.observe(done("r1", 0.0, prompt=100, completion=1400))  # far beyond the estimate
    refused = policy.decide(ctx(1.0, rid="r2"))
    assert refused.action == "throttle" and refused.retry_after_s is not None
    assert refused.retry_after_s >= 29  # ~500 tokens owed at 1000/min
    assert policy.decide(ctx(1.0, "b")).action == "allow"  # the default has no limit


def test_overestimates_are_refunded() -> None:
    policy = StaticPolicy(StaticPolicyConfig(default_rate_limit=RateLimit(tokens_per_minute=100)))
    assert policy.decide(ctx(0.0, tokens=99, rid="r1")).action == "allow"
    policy.observe(done("r1", 0.0, prompt=5, completion=5))
    assert policy.decide(ctx(0.0, tokens=50, rid="r2")).action == "allow"


def test_bucket_math() -> None:
    bucket = TokenBucket.full(60, now=0.0)
    assert bucket.wait_for(60, 0.0) == 0
    bucket.charge(60, 0.0)
    assert bucket.wait_for(1, 0.0) == 1.0
    assert bucket.wait_for(1, 1.0) == 0
    assert bucket.wait_for(1000, 1.0) == 59.0  # never asks for more than one minute's worth


def test_idle_buckets_are_pruned() -> None:
    buckets = MemoryBuckets()
    policy = StaticPolicy(
        StaticPolicyConfig(default_rate_limit=RateLimit(requests_per_minute=5)), buckets
    )
    for i in range(10_000):  # the buckets prune every 10,000 takes
        policy.decide(ctx(float(i), f"acct{i}"))
    assert len(buckets._tables["static:requests"]) < 100  # only the last ~minute remain
