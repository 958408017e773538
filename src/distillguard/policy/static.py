"""The static policy: block lists and per-account rate limits from config.

It is the gateway's decision hook until the detection engine takes over, and stays useful
beside it for hand-made blocks. Lookups are set/dict membership, so it costs microseconds.
"""

from __future__ import annotations

import ipaddress

from distillguard.config import RateLimit, StaticPolicyConfig
from distillguard.events import Event
from distillguard.gateway.clientip import IPNetwork
from distillguard.gateway.decision import ALLOW, Decision, RequestContext
from distillguard.policy.ratelimit import TokenBucket, bucket_for, rate_limited

_PRUNE_EVERY = 4096


class StaticPolicy:
    def __init__(self, config: StaticPolicyConfig):
        self._accounts = frozenset(config.blocked_accounts)
        self._keys = frozenset(config.blocked_keys)
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in config.blocked_cidrs
        )
        self._default = config.default_rate_limit
        self._per_account = config.account_rate_limits
        self._requests: dict[str, TokenBucket] = {}
        self._tokens: dict[str, TokenBucket] = {}
        self._charged: dict[str, tuple[str, int]] = {}  # request_id -> (account, tokens)
        self._calls = 0

    def _limit(self, account_id: str) -> RateLimit:
        return self._per_account.get(account_id, self._default)

    def _blocked_network(self, ip: str) -> IPNetwork | None:
        if not self._networks:
            return None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net in self._networks:
            if addr.version == net.version and addr in net:
                return net
        return None

    def decide(self, ctx: RequestContext) -> Decision:
        if ctx.account_id in self._accounts:
            return Decision("block", 1.0, (f"account {ctx.account_id} is on the block list",))
        if ctx.api_key_id in self._keys:
            return Decision("block", 1.0, (f"API key {ctx.api_key_id} is on the block list",))
        net = self._blocked_network(ctx.ip)
        if net is not None:
            return Decision("block", 1.0, (f"client IP {ctx.ip} is in blocked range {net}",))
        limit = self._limit(ctx.account_id)
        if limit.requests_per_minute is None and limit.tokens_per_minute is None:
            return ALLOW
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            self._prune(ctx.ts)
        return self._rate_limit(ctx, limit)

    def _rate_limit(self, ctx: RequestContext, limit: RateLimit) -> Decision:
        now, account = ctx.ts, ctx.account_id
        waits: list[tuple[float, str]] = []
        req_bucket = tok_bucket = None
        if limit.requests_per_minute is not None:
            req_bucket = bucket_for(self._requests, account, limit.requests_per_minute, now)
            wait = req_bucket.wait_for(1, now)
            if wait > 0:
                waits.append((wait, f"{limit.requests_per_minute} requests/minute"))
        if limit.tokens_per_minute is not None:
            tok_bucket = bucket_for(self._tokens, account, limit.tokens_per_minute, now)
            wait = tok_bucket.wait_for(1, now)
            if wait > 0:
                waits.append((wait, f"{limit.tokens_per_minute} tokens/minute"))
        if waits:
            wait, what = max(waits)
            return rate_limited(
                what, wait, (f"rate limit of {what} reached for account {account}",)
            )
        if req_bucket is not None:
            req_bucket.charge(1, now)
        if tok_bucket is not None:
            estimate = ctx.prompt_tokens_estimate
            tok_bucket.charge(estimate, now)
            self._charged[ctx.request_id] = (account, estimate)
        return ALLOW

    def observe(self, event: Event) -> None:
        """Correct the token charge with the usage the upstream reported."""
        request_id = event.get("request_id")
        charged = self._charged.pop(request_id, None) if isinstance(request_id, str) else None
        if charged is None:
            return
        account, estimate = charged
        response = event.get("response") or {}
        used = int(response.get("prompt_tokens") or 0) + int(response.get("completion_tokens") or 0)
        bucket = self._tokens.get(account)
        if bucket is None:
            return
        if used >= estimate:
            bucket.charge(used - estimate, float(event["ts"]))
        else:
            bucket.refund(estimate - used)

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled: bounded memory over millions of accounts."""
        for table in (self._requests, self._tokens):
            idle = [a for a, b in table.items() if b.wait_for(b.per_minute, now) == 0]
            for account in idle:
                del table[account]
