"""How fast the detection engine folds in a realistic log, and what it keeps per account.

Targets (the issue): on a >= 1M-event realistic log, >= 20,000 events/s per core and <= 4 KB of
detector state per account; extrapolated to a 16M-event log on this machine, <= 15 minutes and
<= 8 GB.

    .venv/bin/python benchmarks/engine_throughput.py [--events 1000000] [--quick] [--profile]
        [--out results.json]

The log is the default simulated scenario (a week, every archetype) at the scale that gives at
least ``--events`` events, written to a temporary JSONL file in a child process (so that the
generator's memory never shows in this process's peak RSS). Three passes over the same file
then split the time: reading + ``orjson.loads`` alone (the reference), analyze's reader
(validation) + feature extraction, and the whole engine as ``distillguard analyze`` runs it.
The engine is one thread, so CPU seconds give the per-core rate; wall time and the load average
show how much other processes on this 2-core machine took from it. ``--profile`` runs cProfile
over the engine pass of a 100k-event log instead.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import multiprocessing
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import orjson

from distillguard.analyze import read_events
from distillguard.detectors.base import state_to_dict
from distillguard.engine import Engine
from distillguard.events import EventError, parse_ts
from distillguard.features.matcher import build_matcher
from distillguard.features.request import extract

TARGET_EVENTS_PER_S: Final = 20_000
TARGET_STATE_BYTES: Final = 4 * 1024
TARGET_BIG_LOG_EVENTS: Final = 16_000_000
TARGET_BIG_LOG_S: Final = 15 * 60
TARGET_BIG_LOG_BYTES: Final = 8 * 10**9
QUICK_EVENTS: Final = 100_000
PROFILE_EVENTS: Final = 100_000
PROBE_SCALES: Final = (0.1, 0.3)  # scenario scales whose event counts fit count = a + b*scale
MARGIN: Final = 1.03


# --- the log -----------------------------------------------------------------------------------


def generate(target: int, path: Path) -> dict[str, float]:
    """Write the default scenario's week at a scale giving >= ``target`` events (child process).

    Event count is close to linear in the scale (small sources round their account count up),
    so two small probe worlds fix the line; the margin covers what the line misses.
    """
    from distillguard.sim.resources import DataBank
    from distillguard.sim.world import build_world, default_scenario

    start = time.perf_counter()
    base = default_scenario()
    bank = DataBank(base.sharegpt_limit)
    (s0, s1) = PROBE_SCALES
    n0, n1 = (sum(1 for _ in build_world(base.with_(scale=s), bank).requests()) for s in (s0, s1))
    slope = (n1 - n0) / (s1 - s0)
    scale = max(0.01, (target * MARGIN - (n0 - slope * s0)) / slope)
    probe_s = time.perf_counter() - start
    while True:
        world = build_world(base.with_(scale=scale), bank)
        count = 0
        with path.open("wb") as handle:
            for event, _ in world.events():
                handle.write(orjson.dumps(event) + b"\n")
                count += 1
        if count >= target:
            break
        scale *= target / count * MARGIN
    return {
        "events": count,
        "accounts": len(world.accounts()),
        "scale": round(scale, 3),
        "bytes": path.stat().st_size,
        "probe_s": probe_s,
        "total_s": time.perf_counter() - start,
    }


def generate_in_child(target: int, path: Path) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(generate, target, path).result()


def analyze_events(path: Path) -> Iterator[dict[str, Any]]:
    """Events as ``distillguard analyze`` reads them: validated, and checked for time order."""
    last = float("-inf")
    for event in read_events(path):
        ts = parse_ts(event["ts"])
        if ts < last:
            raise EventError("the log is not in time order")
        last = ts
        yield event


# --- the passes --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    events: int
    wall_s: float
    cpu_s: float

    @property
    def per_s_cpu(self) -> float:
        return self.events / self.cpu_s

    @property
    def per_s_wall(self) -> float:
        return self.events / self.wall_s


def timed(run: Callable[[], int]) -> Timing:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    events = run()
    return Timing(events, time.perf_counter() - wall, time.process_time() - cpu)


def parse_only(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def parse_and_extract(path: Path) -> int:
    matcher = build_matcher()
    count = 0
    for event in analyze_events(path):
        if (event.get("request") or {}).get("messages"):
            extract(event, matcher)
        count += 1
    return count


def run_engine(engine: Engine, path: Path) -> int:
    count = 0
    for event in analyze_events(path):
        engine.process(event)
        count += 1
    return count


class GcClock:
    """Time the cyclic garbage collector takes (cProfile does not show it)."""

    def __init__(self) -> None:
        self.seconds, self.collections, self._start = 0.0, 0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections += 1


# --- memory ------------------------------------------------------------------------------------


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def deep_size(root: object, seen: set[int]) -> int:
    """Bytes of ``root`` and everything it reaches that ``seen`` has not counted yet."""
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.append(vars(obj))
        else:
            slots = getattr(type(obj), "__slots__", ())
            stack.extend(getattr(obj, name) for name in slots if hasattr(obj, name))
    return total


def state_sizes(engine: Engine) -> list[int]:
    """Serialised detector state of every account, as a state store would hold it."""
    option = orjson.OPT_NON_STR_KEYS
    return sorted(
        len(orjson.dumps({n: state_to_dict(s) for n, s in rec.states.items()}, option=option))
        for rec in engine.accounts.values()
    )


# --- the report --------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def benchmark(path: Path, log: dict[str, float]) -> dict[str, Any]:
    parse = timed(lambda: parse_only(path))
    features = timed(lambda: parse_and_extract(path))
    engine = Engine()  # the matcher is compiled here, outside the timed pass
    gc_clock = GcClock()
    gc.collect()
    load_before, rss_before = os.getloadavg(), rss_bytes()
    gc.callbacks.append(gc_clock)
    try:
        full = timed(lambda: run_engine(engine, path))
    finally:
        gc.callbacks.remove(gc_clock)
    load_after, rss_after, peak = os.getloadavg(), rss_bytes(), peak_rss_bytes()
    n = full.events

    print(
        f"\nlog: {n:,} events, {log['accounts']:,.0f} accounts, {mb(log['bytes'])} JSONL "
        f"(scenario scale {log['scale']}); generated in {log['total_s']:.0f} s "
        f"(incl. {log['probe_s']:.0f} s sizing probes), not counted below"
    )
    print(
        f"load average before/after the engine pass: {load_before[0]:.2f} / {load_after[0]:.2f}"
        f" (2 cores: above ~1 means the engine shared its core)"
    )
    print("\nwhere the time goes (CPU)      s      µs/event   share")
    stages = [
        ("read + orjson.loads", parse.cpu_s),
        ("validate + features.extract", features.cpu_s - parse.cpu_s),
        ("detectors + population + linker + scoring", full.cpu_s - features.cpu_s),
    ]
    for label, seconds in stages:
        print(f"  {label:<42}{seconds:8.1f}{seconds / n * 1e6:10.1f}{seconds / full.cpu_s:8.0%}")
    print(f"  {'engine pass (analyze)':<42}{full.cpu_s:8.1f}{full.cpu_s / n * 1e6:10.1f}")
    print(f"  of which cyclic GC: {gc_clock.seconds:.1f} s in {gc_clock.collections} collections")

    print("\nthroughput                    events/s (CPU)   events/s (wall)")
    for label, t in (("read + parse (reference)", parse), ("engine pass", full)):
        print(f"  {label:<28}{t.per_s_cpu:14,.0f}{t.per_s_wall:18,.0f}")
    print(
        f"  engine / reference: {full.cpu_s / parse.cpu_s:.1f}x the CPU of reading the log; "
        f"{full.per_s_cpu / TARGET_EVENTS_PER_S:.2f}x the target rate"
    )

    sizes = state_sizes(engine)
    accounts = len(sizes)
    seen: set[int] = set()
    held = {
        "accounts": deep_size(engine.accounts, seen),
        "population": deep_size(engine.population, seen),
        "linker": deep_size(engine.linker, seen),
    }
    growth = max(rss_after, peak) - rss_before
    held["other (allocator, caches)"] = max(0, growth - sum(held.values()))
    state_mean = sum(sizes) / accounts
    state_p99 = sizes[min(accounts - 1, int(0.99 * accounts))]
    print(
        f"\nstate per account ({accounts:,} accounts, {n / accounts:,.0f} events each on "
        f"average), serialised JSON: mean {state_mean:,.0f} B, p99 {state_p99:,} B, "
        f"max {sizes[-1]:,} B"
    )

    factor = TARGET_BIG_LOG_EVENTS / n
    print(f"\nmemory                           measured    x{factor:.1f} for 16M events")
    for label, size in held.items():
        print(f"  {label:<30}{mb(size):>12}{mb(size * factor):>16}")
    big_bytes = rss_before + growth * factor
    print(f"  {'RSS before the pass (imports)':<30}{mb(rss_before):>12}{mb(rss_before):>16}")
    print(f"  {'peak RSS (process)':<30}{mb(peak):>12}{mb(big_bytes):>16}")
    print(f"  RSS after the pass {mb(rss_after)}; growth during the pass {mb(growth)}")
    print("  16M extrapolation: accounts and every table grow in proportion to events (the same")
    print("  traffic mix at 16x the scale); an upper bound, as the population's segment table")
    print("  is capped (max_segments) and scaffolds cap their account and fill sets.")

    big_s = TARGET_BIG_LOG_EVENTS / full.per_s_cpu
    checks = [
        (
            f"events/s per core >= {TARGET_EVENTS_PER_S:,}",
            f"{full.per_s_cpu:,.0f}",
            full.per_s_cpu >= TARGET_EVENTS_PER_S,
        ),
        (
            f"state per account <= {TARGET_STATE_BYTES:,} B (max)",
            f"{sizes[-1]:,} B",
            sizes[-1] <= TARGET_STATE_BYTES,
        ),
        ("16M events in <= 15 min (CPU rate)", f"{big_s / 60:,.1f} min", big_s <= TARGET_BIG_LOG_S),
        ("16M events in <= 8 GB (peak RSS)", mb(big_bytes), big_bytes <= TARGET_BIG_LOG_BYTES),
    ]
    print("\ntarget                                     this run          ")
    for label, value, ok in checks:
        print(f"  {label:<40}{value:>16}  {verdict(ok)}")
    return {
        "log": log,
        "timing": {
            k: dataclasses.asdict(t)
            for k, t in (("parse", parse), ("parse_validate_features", features), ("engine", full))
        },
        "gc": {"seconds": gc_clock.seconds, "collections": gc_clock.collections},
        "load_average": {"before": load_before, "after": load_after},
        "accounts": accounts,
        "state_bytes": {"mean": state_mean, "p99": state_p99, "max": sizes[-1]},
        "memory_bytes": {
            **held,
            "rss_before": rss_before,
            "rss_after": rss_after,
            "peak_rss": peak,
        },
        "extrapolation_16m": {
            "seconds_cpu": big_s,
            "seconds_wall": TARGET_BIG_LOG_EVENTS / full.per_s_wall,
            "peak_rss_bytes": big_bytes,
        },
        "checks": {label: ok for label, _, ok in checks},
    }


def profile(path: Path) -> None:
    engine = Engine()
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    profiler.enable()
    n = run_engine(engine, path)
    profiler.disable()
    wall = time.perf_counter() - wall
    print(
        f"\ncProfile of the engine pass: {n:,} events, {n / wall:,.0f} events/s under the "
        f"profiler; top 25 by own time"
    )
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument(
        "--profile", action="store_true", help=f"cProfile the engine over {PROFILE_EVENTS:,} events"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()
    target = QUICK_EVENTS if args.quick else args.events
    if args.profile:
        target = min(target, PROFILE_EVENTS)
    with tempfile.TemporaryDirectory(prefix="engine-throughput-") as tmp:
        path = Path(tmp) / "events.jsonl"
        print(f"generating a >= {target:,}-event log ...", flush=True)
        log = generate_in_child(target, path)
        if args.profile:
            profile(path)
            return
        results = benchmark(path, log)
    if args.out:
        args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
