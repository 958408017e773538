"""What sharing the engine's state through Redis costs, measured side by side in one run.

The same simulated day is judged four ways: one engine in memory; one replica with the shared
stream (every request goes out to Redis and is read back before its verdict); two replicas
in this process that each receive half of every account's requests and fold all of them (the
fleet's price: every replica folds every request); and, for the latency a replica's peers see,
the time from a request's verdict on replica A to replica B having folded it when B catches up.
It also checks that the shared replicas' verdicts equal the single engine's, request by request.
Needs Debian's ``redis-server``.

    .venv/bin/python benchmarks/shared_state.py [--scale 0.1] [--days 1]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from distillguard.detectors.registry import REGISTRY
from distillguard.engine import Engine
from distillguard.engine_config import EngineConfig
from distillguard.events import Event
from distillguard.features.request import RequestFeatures, extract
from distillguard.sim.world import build_world, default_scenario
from distillguard.store.feature_stream import SharedFold, encode

CONFIG = EngineConfig(detectors=[d for d in REGISTRY if d != "semantic"])


@contextmanager
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: bash scripts/system-deps.sh installs it")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(  # noqa: S603 - a fixed local binary and our own arguments
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", data, "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait()


def replica(url: str, name: str, prefix: str) -> tuple[Engine, SharedFold]:
    engine = Engine(CONFIG)
    shared = SharedFold(engine, url, replica=name, prefix=prefix)
    engine.shared = shared
    return engine, shared


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--days", type=float, default=1.0)
    args = parser.parse_args()
    scenario = default_scenario().with_(scale=args.scale, days=args.days, release_day=0.5)
    events: list[Event] = [e for e, _ in build_world(scenario).events()]
    extractor = Engine(CONFIG)
    features: list[RequestFeatures] = [
        extract(e, extractor.matcher, extractor.text_cache) for e in events
    ]
    n = len(features)
    size = statistics.mean(len(encode(f)) for f in features[:5000])
    print(
        f"{n:,} requests ({scenario.days:g} day(s), scale {scenario.scale:g}); "
        f"a stream entry is {size:,.0f} bytes on average"
    )

    single = Engine(CONFIG)
    started = time.perf_counter()
    expected = [single.process_features(f) for f in features]
    memory_s = time.perf_counter() - started

    with redis_url() as url:
        one, _ = replica(url, "solo", "b1:")
        started = time.perf_counter()
        for f in features:
            one.judge(f)
        one_s = time.perf_counter() - started

        (a, sa), (b, sb) = replica(url, "a", "b2:"), replica(url, "b", "b2:")
        started = time.perf_counter()
        got = []
        for i, f in enumerate(features):
            side = zlib.crc32(f"{f.account_id}:{i}".encode()) % 2
            got.append((a, b)[side].judge(f))
        sa.catch_up()
        sb.catch_up()
        two_s = time.perf_counter() - started
        equal = all(
            (x.flagged, x.score, x.campaign_id) == (y.flagged, y.score, y.campaign_id)
            for x, y in zip(got, expected, strict=True)
        )

        (c, _), (d, sd) = replica(url, "c", "b3:"), replica(url, "d", "b3:")
        waits = []
        for f in features[:2000]:
            c.judge(f)
            started = time.perf_counter()
            sd.catch_up()
            waits.append(time.perf_counter() - started)
            assert d.events == c.events

    print("\n| how | requests/s | vs one engine in memory |")
    print("|---|---|---|")
    for name, seconds in [
        ("one engine, memory", memory_s),
        ("one replica, shared stream", one_s),
        ("two replicas, shared stream (fleet)", two_s),
    ]:
        print(f"| {name} | {n / seconds:,.0f} | {memory_s / seconds:.2f}x |")
    waits.sort()
    p50, p99 = waits[len(waits) // 2], waits[int(len(waits) * 0.99)]
    print(
        f"\npeer catch-up after a request: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms "
        f"(plus up to detection.sync_interval_s, 100 ms by default, when the peer is idle)"
    )
    print(f"two replicas' verdicts equal one engine's, request by request: {equal}")


if __name__ == "__main__":
    main()
