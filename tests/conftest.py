"""Shared fixtures: a replay upstream and a gateway, both real servers on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import (
    AuthConfig,
    EventLogConfig,
    GatewayConfig,
    RateLimit,
    StaticPolicyConfig,
    UpstreamConfig,
)
from distillguard.data.sharegpt import Conversation, Turn
from distillguard.events import Event
from distillguard.gateway.app import create_gateway_app
from distillguard.gateway.decision import DecisionHook
from distillguard.policy.response import ResponsePolicy
from distillguard.policy.static import StaticPolicy
from distillguard.store.eventlog import iter_logged_events
from distillguard.store.keys import KeyStore
from distillguard.upstream.replay import ReplaySettings, create_replay_app
from servers import serve_in_thread

CONVERSATIONS = [
    Conversation(
        id=f"c{i}",
        turns=(
            Turn("user", f"Question number {i}: what is {i} plus {i}?"),
            Turn("assistant", f"The answer to question {i} is {2 * i}. " + "More words. " * 20),
        ),
    )
    for i in range(50)
]


@pytest.fixture(scope="session")
def replay_url() -> Iterator[str]:
    """A replay upstream with a small fixed answer book and slow streams (for disconnects)."""
    app = create_replay_app(ReplaySettings(chunk_delay_ms=5.0), CONVERSATIONS)
    with serve_in_thread(app) as url:
        yield url


@dataclass
class GatewayHandle:
    url: str
    config: GatewayConfig
    keys: dict[str, str] = field(default_factory=dict)  # account -> secret
    key_ids: dict[str, str] = field(default_factory=dict)  # account -> key id

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def events(self) -> list[Event]:
        return list(iter_logged_events(self.config.event_log.path))

    def events_at_least(self, n: int, timeout: float = 3.0) -> list[Event]:
        """The log once it holds ``n`` events (it flushes on its own clock), or at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if len(events) >= n or time.monotonic() > deadline:
                return events
            time.sleep(0.02)


def gateway_config(tmp: Path, upstream_url: str, **overrides: object) -> GatewayConfig:
    config = GatewayConfig(
        upstream=UpstreamConfig(base_url=upstream_url + "/v1", read_timeout_s=10),
        event_log=EventLogConfig(path=tmp / "events.sqlite", flush_interval_ms=50),
        auth=AuthConfig(keys_db=tmp / "keys.sqlite", reload_interval_s=0.1),
    )
    return config.model_copy(update=overrides)


@contextmanager
def running_gateway(
    config: GatewayConfig,
    accounts: Sequence[str] = ("alice", "bob"),
    hook: DecisionHook | None = None,
    *,
    policy: ResponsePolicy | None = None,
    meta: Mapping[str, dict[str, Any]] | None = None,
) -> Iterator[GatewayHandle]:
    """A gateway on a free port with one key per account (``meta``: account metadata by
    account); the event log is flushed on exit."""
    handle = GatewayHandle(url="", config=config)
    with KeyStore(config.auth.keys_db) as store:
        for account in accounts:
            issued = store.add(account, label="test", account_meta=(meta or {}).get(account))
            handle.keys[account] = issued.secret
            handle.key_ids[account] = issued.key.key_id
    app = create_gateway_app(config, hook=hook or StaticPolicy(config.policy), policy=policy)
    with serve_in_thread(app) as url:
        handle.url = url
        yield handle


@pytest.fixture
def gateway(tmp_path: Path, replay_url: str) -> Iterator[GatewayHandle]:
    """A gateway in front of the replay upstream; 'mallory' is blocked, 'carol' limited."""
    config = gateway_config(
        tmp_path,
        replay_url,
        policy=StaticPolicyConfig(
            blocked_accounts=["mallory"],
            account_rate_limits={"carol": RateLimit(requests_per_minute=3)},
        ),
    )
    with running_gateway(config, ("alice", "bob", "carol", "mallory")) as handle:
        yield handle
