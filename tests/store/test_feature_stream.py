"""The engine's state shared by gateway replicas through one stream in a real Redis.

Every replica folds every replica's requests in the stream's order, so two replicas that each
receive half of every account's traffic reach, request by request, the verdicts one engine
reaches on the whole sequence, and end with the same campaigns. Redis going away follows the
fail mode, and when it is back nothing any replica served is missing or folded twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import zlib
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from dashkit import CARD, HYDRA, harvest
from distillguard.detectors.registry import REGISTRY
from distillguard.engine import Engine, Verdict
from distillguard.engine_config import EngineConfig
from distillguard.events import Event
from distillguard.features.request import extract
from distillguard.policy.rules import Condition, PolicyConfig, Rule
from distillguard.procs import free_port
from distillguard.sim.world import Scenario, SourceEntry, build_world
from distillguard.store.feature_stream import SharedFold, StateUnavailable, decode, encode
from policykit import T0, ask, policy_gateway
from servers import redis_server

# The gateway's default: the semantic layer embeds on the request path, so it is off there.
CONFIG = EngineConfig(detectors=[d for d in REGISTRY if d != "semantic"])


def world_events(seed: int) -> tuple[list[Event], set[str]]:
    """A day of traffic, and the reseller's accounts."""
    scenario = Scenario(
        seed=seed,
        days=1,
        release_day=0.5,
        sharegpt_limit=800,
        sources=[
            SourceEntry(kind="human", accounts=30),
            SourceEntry(kind="campus", accounts=12),
            SourceEntry(kind="hydra-reseller", accounts=40),
            SourceEntry(kind="reasoning-harvest", accounts=2),
            SourceEntry(kind="coding-agent", accounts=2),
        ],
    )
    world = build_world(scenario)
    hydra = {a.account_id for a in world.accounts() if a.kind == "hydra-reseller"}
    return [event for event, _ in world.events()], hydra


def replica(url: str, name: str, fail_mode: str = "closed") -> Engine:
    engine = Engine(CONFIG)
    engine.shared = SharedFold(engine, url, replica=name, fail_mode=fail_mode, prefix="t:")
    return engine


def fold(engine: Engine) -> SharedFold:
    assert isinstance(engine.shared, SharedFold)
    return engine.shared


def shape(v: Verdict | None) -> tuple[object, ...]:
    assert v is not None
    return (v.account_id, v.request_index, v.flagged, round(v.score, 12), v.campaign_id)


def campaigns(engine: Engine) -> set[frozenset[str]]:
    return {frozenset(members) for members in engine.campaign_roots().values()}


def side(event: Event, i: int) -> int:
    """The load balancer: each account's requests land on both replicas, unevenly."""
    return zlib.crc32(f"{event['account_id']}:{i}".encode()) % 2


@pytest.fixture(scope="module")
def world() -> tuple[list[Event], set[str]]:
    return world_events(seed=11)


@pytest.fixture(scope="module")
def events(world: tuple[list[Event], set[str]]) -> list[Event]:
    return world[0]


def test_features_round_trip_through_json(events: list[Event]) -> None:
    engine = Engine(CONFIG)
    features = [extract(e, engine.matcher, engine.text_cache) for e in events[:400]]
    assert any(f.families for f in features) and any(f.payment for f in features)
    assert [decode(encode(f)) for f in features] == features
    with pytest.raises(ValueError, match="version"):
        decode(b"[99, 1, 2]")
    with pytest.raises(ValueError, match="version"):
        decode(b"[1, 2, 3]")


def test_entries_of_the_format_before_read_as_first_requests(events: list[Event]) -> None:
    # A replica not yet upgraded writes format 1 (no thread); an upgraded one folds its
    # entries rather than skipping them, so both keep one state during a rolling upgrade.
    engine = Engine(CONFIG)
    for f in [extract(e, engine.matcher, engine.text_cache) for e in events[:200]]:
        values = orjson.loads(encode(f))
        del values[1 + [x.name for x in dataclasses.fields(f)].index("thread_hash")]
        old = decode(orjson.dumps([1, *values[1:]]))
        assert old == dataclasses.replace(f, thread_hash=f.prompt_hash)


def test_two_replicas_reach_the_verdicts_of_one_engine(
    tmp_path: Path, world: tuple[list[Event], set[str]]
) -> None:
    events, hydra = world
    single = Engine(CONFIG)
    expected = [shape(single.process(e)) for e in events]
    with redis_server(tmp_path / "redis") as url:
        a, b = replica(url, "a"), replica(url, "b")
        got = [shape((a, b)[side(e, i)].process(e)) for i, e in enumerate(events)]
        for engine in (a, b):
            fold(engine).catch_up()
    assert got == expected
    for engine in (a, b):
        assert engine.events == single.events == len(events)
        assert campaigns(engine) == campaigns(single)
        assert {k: r.requests for k, r in engine.accounts.items()} == {
            k: r.requests for k, r in single.accounts.items()
        }
    # Not a trivial agreement: the reseller is linked into one campaign and flagged.
    linked = set().union(*(c for c in campaigns(single) if len(c) >= 5))
    assert len(linked & hydra) >= 30
    assert sum(single.is_flagged(x) for x in hydra) >= 30
    # Each replica alone would have seen only its share of each account's requests.
    alone = Engine(CONFIG)
    for i, e in enumerate(events):
        if side(e, i) == 0:
            alone.process(e)
    assert sum(r.requests for r in alone.accounts.values()) < 0.6 * len(events)


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_an_outage_loses_nothing_and_folds_nothing_twice(
    tmp_path: Path, events: list[Event], fail_mode: str
) -> None:
    port, data = free_port(), tmp_path / "redis"
    part = events[:900]
    with contextlib.ExitStack() as outage:
        url = outage.enter_context(redis_server(data, port))
        a, b = replica(url, "a", fail_mode), replica(url, "b", fail_mode)
        for i, e in enumerate(part[:300]):
            (a, b)[side(e, i)].process(e)
        outage.close()  # Redis goes away under both replicas
        refused = 0
        for i, e in enumerate(part[300:600], start=300):
            try:
                verdict = (a, b)[side(e, i)].process(e)
                assert fail_mode == "open" and verdict is not None
            except StateUnavailable:
                refused += 1
        assert (refused > 0) == (fail_mode == "closed")
        waiting = fold(a).backlog + fold(b).backlog
        assert waiting == 300  # every request served or refused meanwhile is kept
        with redis_server(data, port):  # back, with the stream it had
            for i, e in enumerate(part[600:], start=600):
                (a, b)[side(e, i)].process(e)
            for engine in (a, b):
                fold(engine).catch_up()
    for engine in (a, b):
        assert fold(engine).backlog == 0
        assert engine.events == len(part)  # each request folded once, none lost
    assert {k: r.requests for k, r in a.accounts.items()} == {
        k: r.requests for k, r in b.accounts.items()
    }


def test_gateways_share_one_campaign_across_replicas(tmp_path: Path, replay_url: str) -> None:
    meta = {x: {"payment_fingerprint": CARD} for x in HYDRA}
    block = PolicyConfig(rules=[Rule(name="flagged", when=Condition(flagged=True), action="block")])
    with redis_server(tmp_path / "redis") as url:
        ea, eb = Engine(CONFIG), Engine(CONFIG)
        ea.shared = SharedFold(ea, url, replica="a", prefix="g:")
        eb.shared = SharedFold(eb, url, replica="b", prefix="g:")
        with (
            policy_gateway(tmp_path / "a", replay_url, block, HYDRA, meta=meta, engine=ea) as (
                a,
                _,
            ),
            policy_gateway(tmp_path / "b", replay_url, block, HYDRA, meta=meta, engine=eb) as (
                b,
                _,
            ),
        ):
            sent = 0
            refused_on = set()
            for n in range(24):
                gw, name = (a, "a") if n % 2 else (b, "b")
                try:
                    ask(gw, HYDRA[n % len(HYDRA)], harvest(n), T0 + 30.0 * n)
                except openai.PermissionDeniedError:
                    refused_on.add(name)
                sent += 1
            time.sleep(0.3)  # an idle replica keeps folding the other's requests
            for engine in (ea, eb):
                campaign_id, stats = engine.campaign(HYDRA[0])
                assert campaign_id is not None and stats.accounts == len(HYDRA)
                assert stats.requests == sent and stats.flagged_ts is not None
            assert refused_on == {"a", "b"}
            scraped = httpx.get(b.url + "/metrics").text
            assert f"distillguard_shared_folded {float(sent)}" in scraped
            assert "distillguard_shared_backlog 0.0" in scraped
            # The verdict is the fleet's: a member refused on one replica is refused on both.
            for gw in (a, b):
                with pytest.raises(openai.PermissionDeniedError):
                    ask(gw, HYDRA[0], harvest(99), T0 + 30.0 * 99)
