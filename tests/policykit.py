"""Helpers for tests of the response side: a gateway with the real engine, the response
policy, the SQLite decisions store and the admin API, and the official client against it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import openai

from conftest import GatewayHandle, gateway_config, running_gateway
from distillguard.config import AdminConfig, RedisConfig, ResponseConfig, StaticPolicyConfig
from distillguard.engine import Engine
from distillguard.gateway.decision import ChainedHook
from distillguard.policy.buckets import Buckets
from distillguard.policy.response import ResponsePolicy
from distillguard.policy.rules import PolicyConfig
from distillguard.policy.snapshot import DecisionCache
from distillguard.policy.static import StaticPolicy
from distillguard.store.decisions import open_decisions

TOKEN = "admin-token-for-tests-0123456789"
T0 = 1_700_000_000.0
CLOCK = "x-sim-time"


@contextmanager
def policy_gateway(
    tmp: Path,
    replay_url: str,
    policy: PolicyConfig,
    accounts: Sequence[str],
    *,
    meta: Mapping[str, dict[str, Any]] | None = None,
    fail_mode: str = "closed",
    max_staleness_s: float = 1.0,
    decisions_db: Path | None = None,
    redis_url: str | None = None,
    buckets: Buckets | None = None,
    static: StaticPolicyConfig | None = None,
    engine: Engine | None = None,
) -> Iterator[tuple[GatewayHandle, ResponsePolicy]]:
    """With ``redis_url`` the decisions live in that Redis, else in SQLite; ``buckets``: where
    rate limits count (this process by default); ``engine``: a fresh default one if none."""
    db = decisions_db or tmp / "decisions.sqlite"
    backend: Literal["sqlite", "redis"] = "redis" if redis_url else "sqlite"
    config = gateway_config(
        tmp,
        replay_url,
        response=ResponseConfig(
            enabled=True,
            decisions_db=db,
            decisions_backend=backend,
            reload_interval_s=0.05,
            max_staleness_s=max_staleness_s,
        ),
        admin=AdminConfig(token=TOKEN),
        redis=RedisConfig(url=redis_url or "redis://127.0.0.1:6379/0"),
        sim_clock_header=CLOCK,
        fail_mode=fail_mode,
        policy=static or StaticPolicyConfig(),
    )
    store = open_decisions(backend, db, redis_url=redis_url or "")
    cache = DecisionCache(store, None, max_staleness_s=1.0)
    cache.max_staleness_s = max_staleness_s
    cache.replace_policy(policy)
    responder = ResponsePolicy(engine or Engine(), cache, fail_mode=fail_mode, buckets=buckets)
    hook = ChainedHook([StaticPolicy(config.policy, buckets), responder])
    with running_gateway(config, accounts, hook, policy=responder, meta=meta) as handle:
        yield handle, responder


def admin(handle: GatewayHandle, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(
        method, handle.url + path, headers={"authorization": f"Bearer {TOKEN}"}, **kw
    )
    assert response.status_code < 400, response.text
    return response.json()


def ask(
    gw: GatewayHandle, account: str, prompt: str, ts: float, *, stream: bool = False
) -> tuple[str, str]:
    """One request with the official client: (content, reasoning) of the answer."""
    with openai.OpenAI(base_url=gw.base_url, api_key=gw.keys[account], max_retries=0) as c:
        kwargs: dict[str, Any] = {
            "model": "replay-reasoning",
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "extra_headers": {CLOCK: str(ts)},
        }
        if not stream:
            message = c.chat.completions.create(**kwargs).choices[0].message
            return message.content or "", message.model_dump().get("reasoning_content") or ""
        content = reasoning = ""
        for chunk in c.chat.completions.create(stream=True, **kwargs):
            for choice in chunk.choices:
                delta = choice.delta.model_dump()
                reasoning += delta.get("reasoning_content") or ""
                content += delta.get("content") or ""
        return content, reasoning
