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
from distillguard.policy.buckets import Buckets, Limit, MemoryBuckets
from distillguard.policy.ratelimit import rate_limited

REQUESTS, TOKENS = "static:requests", "static:tokens"


class StaticPolicy:
    def __init__(self, config: StaticPolicyConfig, buckets: Buckets | None = None):
        self._accounts = frozenset(config.blocked_accounts)
        self._keys = frozenset(config.blocked_keys)
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in config.blocked_cidrs
        )
        self._default = config.default_rate_limit
        self._per_account = config.account_rate_limits
        self._buckets = buckets or MemoryBuckets()
        self._charged: dict[str, tuple[str, int, int]] = {}  # request_id -> (account, rate, n)

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
        return self._rate_limit(ctx, limit)

    def _rate_limit(self, ctx: RequestContext, limit: RateLimit) -> Decision:
        account = ctx.account_id
        limits: list[tuple[Limit, str]] = []
        if limit.requests_per_minute is not None:
            rpm = limit.requests_per_minute
            limits.append((Limit(REQUESTS, account, rpm, 1, 1), f"{rpm} requests/minute"))
        estimate = ctx.prompt_tokens_estimate
        if limit.tokens_per_minute is not None:
            tpm = limit.tokens_per_minute
            limits.append((Limit(TOKENS, account, tpm, 1, estimate), f"{tpm} tokens/minute"))
        wait, index = self._buckets.take([x for x, _ in limits], ctx.ts)
        if wait > 0:
            what = limits[index][1]
            return rate_limited(
                what, wait, (f"rate limit of {what} reached for account {account}",)
            )
        if limit.tokens_per_minute is not None:
            self._charged[ctx.request_id] = (account, limit.tokens_per_minute, estimate)
        return ALLOW

    def observe(self, event: Event) -> None:
        """Correct the token charge with the usage the upstream reported."""
        request_id = event.get("request_id")
        charged = self._charged.pop(request_id, None) if isinstance(request_id, str) else None
        if charged is None:
            return
        account, per_minute, estimate = charged
        response = event.get("response") or {}
        if "error" not in response and not {"prompt_tokens", "completion_tokens"} & set(response):
            return  # served, usage unseen (Envoy's ext_authz never sees the answer): it stands
        used = int(response.get("prompt_tokens") or 0) + int(response.get("completion_tokens") or 0)
        self._buckets.adjust(TOKENS, account, per_minute, used - estimate, float(event["ts"]))
