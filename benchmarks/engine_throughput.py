"""How fast the detection engine folds in a realistic log, and what it keeps per account.

Targets (the issue): on a >= 1M-event realistic log, >= 20,000 events/s per core and <= 4 KB of
detector state per account; extrapolated to a 16M-event log on this machine, <= 15 minutes and
<= 8 GB.

    .venv/bin/python benchmarks/engine_throughput.py [--events 1000000] [--quick] [--profile]
        [--workers 2] [--out results.json]

The log is the default simulated scenario (a week, every archetype) at the scale that gives at
least ``--events`` events, written to a temporary JSONL file in a child process (so that the
generator's memory never shows in this process's peak RSS). Three passes over the same file
then split the time: reading + ``orjson.loads`` alone (the reference), analyze's reader
(validation) + feature extraction, and the whole engine as ``distillguard analyze`` runs it.
The engine is one thread, so CPU seconds give the per-core rate; wall time and the load average
show how much other processes on this 2-core machine took from it. A fourth pass runs the
engine as ``analyze --workers 2`` does (extraction in two worker processes, the fold in a fresh
process, so that no cache warmed by the passes before helps it): its wall time is what a 2-core
machine takes for the log, its CPU that of all processes.
``--profile`` runs cProfile over the engine pass of a 100k-event log instead.
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

import distillguard
from distillguard.analyze import extract_in_workers, in_time_order, read_events
from distillguard.detectors.base import state_to_dict
from distillguard.engine import Engine, batch_gc
from distillguard.events import EventError, carries_request, parse_ts
from distillguard.features.matcher import build_matcher
from distillguard.features.request import extract

TARGET_EVENTS_PER_S: Final = 20_000
TARGET_STATE_BYTES: Final = 4 * 1024
TARGET_BIG_LOG_EVENTS: Final = 16_000_000
TARGET_BIG_LOG_S: Final = 15 * 60
TARGET_BIG_LOG_BYTES: Final = 8 * 10**9
QUICK_EVENTS: Final = 100_000
PROFILE_EVENTS: Final = 100_000
COMPARE_EVENTS: Final = 100_000  # the compiled modules against their source,
COMPARE_ROUNDS: Final = 2  # the best of this many runs each
# Events in the default scenario's week ~ EVENTS_FIXED + EVENTS_PER_SCALE * scale (measured at
# scales 0.5-2; small sources round their account count up, hence the constant).
EVENTS_FIXED: Final = 16_000
EVENTS_PER_SCALE: Final = 134_000
MARGIN: Final = 1.03


# --- the log -----------------------------------------------------------------------------------


def generate(target: int, path: Path) -> dict[str, float]:
    """Write the default scenario's week at a scale giving >= ``target`` events (child process).

    Should the simulator have changed so that the log comes out short, the scale is raised
    and the log written again.
    """
    from distillguard.sim.resources import DataBank
    from distillguard.sim.world import build_world, default_scenario

    start = time.perf_counter()
    base = default_scenario()
    bank = DataBank(base.sharegpt_limit)
    scale = max(0.01, (target * MARGIN - EVENTS_FIXED) / EVENTS_PER_SCALE)
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
        "seconds": time.perf_counter() - start,
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
    # --workers only: wall seconds before the first event reached the fold (the workers
    # starting: paid once, whatever the log's size), and the CPU of the folding process alone
    startup_s: float = 0.0
    fold_cpu_s: float | None = None

    @property
    def per_s_cpu(self) -> float:
        return self.events / self.cpu_s

    @property
    def per_s_wall(self) -> float:
        return self.events / self.wall_s


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # of children already reaped
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[], int], children: bool = False) -> Timing:
    """Wall and CPU time of ``run``; with ``children``, the CPU of the worker processes it
    started (and joined) too."""
    gc.collect()
    wall, cpu, child = time.perf_counter(), time.process_time(), children_cpu_s()
    events = run()
    cpu_s = time.process_time() - cpu + (children_cpu_s() - child if children else 0.0)
    return Timing(events, time.perf_counter() - wall, cpu_s)


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
        if carries_request(event):
            extract(event, matcher)
        count += 1
    return count


def run_engine(
    engine: Engine, path: Path, rss_at: dict[int, int] | None = None, limit: int | None = None
) -> int:
    """The engine over the log (its first ``limit`` events); ``rss_at`` maps event counts to
    fill with the RSS there."""
    marks = rss_at if rss_at is not None else {}
    count = 0
    with batch_gc():  # as analyze's fold
        for event in analyze_events(path):
            engine.process(event)
            count += 1
            if count in marks:
                marks[count] = rss_bytes()
            if count == limit:
                break
    return count


def engine_pass_cpu(path: Path, limit: int) -> tuple[str, float]:
    """In a fresh process: where its hot modules came from, and the engine pass's CPU seconds
    per event over the log's first ``limit`` events."""
    engine = Engine()
    start = time.process_time()
    n = run_engine(engine, path, limit=limit)
    return distillguard.NATIVE, (time.process_time() - start) / n


def compiled_vs_source(
    path: Path, limit: int, rounds: int = COMPARE_ROUNDS
) -> dict[str, float] | None:
    """The engine pass's CPU per event with the compiled modules and from their source
    (``DISTILLGUARD_NATIVE=0``), each in fresh processes, alternated; the best of ``rounds``.
    None where this process does not run the compiled modules."""
    if distillguard.NATIVE != "compiled":
        return None
    best: dict[str, float] = {}
    saved = os.environ.get("DISTILLGUARD_NATIVE")
    context = multiprocessing.get_context("spawn")
    try:
        for _ in range(rounds):
            for flag in ("1", "0"):
                os.environ["DISTILLGUARD_NATIVE"] = flag  # read by the child at import
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    native, seconds = pool.submit(engine_pass_cpu, path, limit).result()
                label = "compiled" if native == "compiled" else "source"
                best[label] = min(best.get(label, seconds), seconds)
    finally:
        if saved is None:
            os.environ.pop("DISTILLGUARD_NATIVE", None)
        else:
            os.environ["DISTILLGUARD_NATIVE"] = saved
    return best


def run_parallel(path: Path, workers: int) -> Timing:
    """As ``analyze --workers``: extraction in worker processes, the fold here, in order; the
    wall time and the CPU of every process (this one and the workers it joined).

    Run it in a fresh process (``parallel_in_child``): the semantic layer's span cache is one
    per process, and one warmed by an earlier pass over the same log would spare this pass
    nearly all its embeddings (measured so, this pass once looked ~1.45x as fast)."""
    engine = Engine()  # compiles the matcher and loads the encoders: outside the timing
    first: list[float] = []

    def fold() -> int:
        count = 0
        with batch_gc():
            extracted = extract_in_workers(path, workers, engine.config.lexicon_backend)
            for f in in_time_order(extracted):
                if not count:
                    first.append(time.perf_counter())
                if f is not None:
                    engine.process_features(f)
                count += 1
        return count

    start, own = time.perf_counter(), time.process_time()
    timing = timed(fold, children=True)
    own = time.process_time() - own
    startup = (first[0] - start) if first else 0.0
    return dataclasses.replace(timing, startup_s=startup, fold_cpu_s=own)


def parallel_in_child(path: Path, workers: int) -> Timing:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_parallel, path, workers).result()


class EmbedClock:
    """CPU time the semantic layer spends scoring spans (``IntentSpotter.similarities``: the
    prefilter, the span cache and the encoders), timed on the process's one spotter."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._spotter: Any = None

    def __enter__(self) -> EmbedClock:
        from distillguard.detectors.semantic import shared_spotter

        self._spotter = spotter = shared_spotter()
        if spotter is not None:
            inner = spotter.similarities

            def timed_similarities(spans: Any, *, screen: bool = True) -> Any:
                start = time.process_time()
                try:
                    return inner(spans, screen=screen)
                finally:
                    self.seconds += time.process_time() - start

            # On the instance: the class, and any other spotter, is untouched.
            spotter.similarities = timed_similarities  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._spotter is not None:
            del self._spotter.similarities


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
        else:
            stack.extend(attributes(obj).values())
    return total


def attributes(obj: object) -> dict[str, object]:
    """An object's attributes: its ``__dict__``, its slots, or a compiled class's fields
    (``distillguard.native``)."""
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    kind = type(obj)
    names: tuple[str, ...] = getattr(kind, "__mypyc_attrs__", ()) or getattr(kind, "__slots__", ())
    return {n: getattr(obj, n) for n in names if not n.startswith("__") and hasattr(obj, n)}


def memory_parts(engine: Engine) -> dict[str, int]:
    """Python-level bytes of what the engine holds; a string shared by several structures
    (an account id) counts with the first one measured."""
    seen: set[int] = set()
    parts = {"accounts (records + states)": deep_size(engine.accounts, seen)}
    for name, table in attributes(engine.population).items():
        parts[f"population.{name}"] = deep_size(table, seen)
    parts["linker"] = deep_size(engine.linker, seen)
    parts["engine (the rest)"] = deep_size(engine, seen)
    small = {k: v for k, v in parts.items() if v < 1_000_000}
    parts = {k: v for k, v in parts.items() if k not in small}
    parts["smaller tables"] = sum(small.values())
    return parts


def state_sizes(engine: Engine) -> list[int]:
    """Serialised detector state of every account, as a state store would hold it."""
    option = orjson.OPT_NON_STR_KEYS
    return sorted(
        len(orjson.dumps({n: state_to_dict(s) for n, s in rec.states.items()}, option=option))
        for rec in engine.accounts.values()
    )


# --- the run -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Measurement:
    log: dict[str, float]
    parse: Timing
    features: Timing  # read + validate + extract
    engine: Timing
    parallel: Timing | None  # as `analyze --workers`: CPU of every process
    workers: int
    gc_s: float
    gc_collections: int
    embed_s: float  # inside the engine pass: the semantic layer scoring spans
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    rss_before: int
    rss_mid: int  # after half the events
    rss_after: int
    peak_rss: int
    state_bytes: list[int]  # per account, sorted
    parts: dict[str, int]
    native: dict[str, float] | None  # engine pass CPU s/event: compiled and source


def measure(path: Path, log: dict[str, float], workers: int) -> Measurement:
    parse = timed(lambda: parse_only(path))
    features = timed(lambda: parse_and_extract(path))
    engine = Engine()  # compiles the matcher: outside the timed pass
    clock = GcClock()
    mid = int(log["events"]) // 2
    rss_at = {mid: 0}
    gc.collect()
    load_before, rss_before = os.getloadavg(), rss_bytes()
    gc.callbacks.append(clock)
    try:
        with EmbedClock() as embed:
            full = timed(lambda: run_engine(engine, path, rss_at))
    finally:
        gc.callbacks.remove(clock)
    load_after, rss_after, peak = os.getloadavg(), rss_bytes(), peak_rss_bytes()
    state_bytes, parts = state_sizes(engine), memory_parts(engine)
    parallel = parallel_in_child(path, workers) if workers > 1 else None
    native = compiled_vs_source(path, min(COMPARE_EVENTS, int(log["events"])))
    return Measurement(
        log=log,
        parse=parse,
        features=features,
        engine=full,
        parallel=parallel,
        workers=workers,
        gc_s=clock.seconds,
        gc_collections=clock.collections,
        embed_s=embed.seconds,
        load_before=load_before,
        load_after=load_after,
        rss_before=rss_before,
        rss_mid=rss_at[mid],
        rss_after=rss_after,
        peak_rss=peak,
        state_bytes=state_bytes,
        parts=parts,
        native=native,
    )


# --- the report --------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def report(m: Measurement) -> dict[str, Any]:
    n, log, full = m.engine.events, m.log, m.engine
    print(
        f"\nlog: {n:,} events, {log['accounts']:,.0f} accounts, {mb(log['bytes'])} of JSONL "
        f"(default scenario, 7 days, scale {log['scale']}); generated in {log['seconds']:.0f} s"
    )
    print(
        f"load average before / after the engine pass: {m.load_before[0]:.2f} / "
        f"{m.load_after[0]:.2f} (2 cores; the pass itself adds ~1: above ~2 it shared its core)"
    )

    print(f"\n{'where the time goes':<44}{'CPU s':>8}{'µs/event':>10}{'share':>7}")
    stages = [
        ("read + orjson.loads (reference)", m.parse.cpu_s),
        ("validate + features.extract", m.features.cpu_s - m.parse.cpu_s),
        ("detectors + population + linker + scoring", full.cpu_s - m.features.cpu_s),
        ("  of which the semantic layer scoring spans", m.embed_s),
        ("engine pass, as `analyze` runs it", full.cpu_s),
    ]
    for label, s in stages:
        print(f"  {label:<42}{s:8.1f}{s / n * 1e6:10.1f}{s / full.cpu_s:7.0%}")
    print(f"  cyclic GC inside the engine pass: {m.gc_s:.1f} s in {m.gc_collections} collections")
    budget = 1e6 / TARGET_EVENTS_PER_S
    rest = (full.cpu_s - m.parse.cpu_s - m.embed_s) / n * 1e6
    print(
        f"  the target rate leaves {budget:.0f} µs of CPU per event: reading takes "
        f"{m.parse.cpu_s / n * 1e6 / budget:.0%} of it, scoring spans "
        f"{m.embed_s / n * 1e6 / budget:.0%}, all the rest {rest / budget:.0%}"
    )

    print(f"\n{'throughput':<36}{'events/s CPU':>14}{'events/s wall':>15}")
    passes = [("read + orjson.loads (reference)", m.parse), ("engine pass", full)]
    if m.parallel is not None:
        passes.append((f"analyze --workers {m.workers} (all CPU)", m.parallel))
    for label, t in passes:
        print(f"  {label:<34}{t.per_s_cpu:14,.0f}{t.per_s_wall:15,.0f}")
    if m.parallel is not None:
        par = m.parallel
        print(
            f"  --workers {m.workers} takes {full.wall_s / par.wall_s:.2f}x less wall time "
            f"than the one-process pass, for {par.cpu_s / full.cpu_s:.2f}x its CPU"
        )
        fold_cpu = par.fold_cpu_s or 0.0
        print(
            f"  --workers {m.workers}, per event: {par.wall_s / n * 1e6:.1f} µs wall, of which "
            f"{par.startup_s:.1f} s starting the workers once; CPU {fold_cpu / n * 1e6:.1f} µs "
            f"in the folding process, {(par.cpu_s - fold_cpu) / n * 1e6:.1f} µs in the workers"
        )
    print(
        f"  the engine pass costs {full.cpu_s / m.parse.cpu_s:.1f}x the CPU of reading the log "
        f"and runs at {full.per_s_cpu / TARGET_EVENTS_PER_S:.2f}x the target rate"
    )
    print(f"  hot modules: {distillguard.NATIVE}")
    if m.native is not None:
        compiled, source = m.native["compiled"], m.native["source"]
        print(
            f"  engine pass over the first {min(COMPARE_EVENTS, n):,} events, fresh processes, "
            f"best of {COMPARE_ROUNDS} each: compiled {compiled * 1e6:.1f} µs/event, from source "
            f"{source * 1e6:.1f}: the compiled modules take {compiled / source:.2f}x the CPU"
        )

    sizes = m.state_bytes
    accounts = len(sizes)
    mean, p99 = sum(sizes) / accounts, sizes[min(accounts - 1, int(0.99 * accounts))]
    print(
        f"\ndetector state per account, serialised JSON ({accounts:,} accounts, "
        f"{n / accounts:,.0f} events each on average): mean {mean:,.0f} B, p99 {p99:,} B, "
        f"max {sizes[-1]:,} B"
    )

    factor = TARGET_BIG_LOG_EVENTS / n
    growth = max(m.rss_after, m.peak_rss) - m.rss_before
    linear = m.rss_before + growth * factor
    marginal = m.rss_after + (m.rss_after - m.rss_mid) / (n - n // 2) * (TARGET_BIG_LOG_EVENTS - n)
    print(f"\n{'memory (Python objects)':<34}{'measured':>12}{f'x{factor:.1f} (16M)':>14}")
    for label, size in m.parts.items():
        print(f"  {label:<32}{mb(size):>12}{mb(size * factor):>14}")
    print(f"  {'sum':<32}{mb(sum(m.parts.values())):>12}")
    print(
        f"RSS: {mb(m.rss_before)} before the engine pass (imports, matcher), {mb(m.rss_mid)} "
        f"half-way, {mb(m.rss_after)} after; process peak {mb(m.peak_rss)}"
    )
    big_bytes = max(linear, marginal)
    print(
        "16M events, assuming accounts and every table grow with events (the same traffic mix"
        f" at\n  16x the scale; no table saturates): {mb(big_bytes)}, the larger of"
        f"\n  linear   {mb(linear)} = RSS before + the pass's growth x{factor:.1f}"
        f"\n  marginal {mb(marginal)} = RSS after + the second half's growth per event to 16M"
    )

    big_s = TARGET_BIG_LOG_EVENTS / full.per_s_cpu
    big_wall_s = None
    if m.parallel is not None:  # the workers start once; the rest grows with the log
        par = m.parallel
        big_wall_s = par.startup_s + (par.wall_s - par.startup_s) * TARGET_BIG_LOG_EVENTS / n
    checks = [
        (
            f"events/s per core (CPU) >= {TARGET_EVENTS_PER_S:,}",
            f"{full.per_s_cpu:,.0f}",
            full.per_s_cpu >= TARGET_EVENTS_PER_S,
        ),
        (
            f"state per account (max) <= {TARGET_STATE_BYTES:,} B",
            f"{sizes[-1]:,} B",
            sizes[-1] <= TARGET_STATE_BYTES,
        ),
        (
            "16M events <= 15 min (at the CPU rate)",
            f"{big_s / 60:,.1f} min",
            big_s <= TARGET_BIG_LOG_S,
        ),
        ("16M events <= 8 GB (RSS)", mb(big_bytes), big_bytes <= TARGET_BIG_LOG_BYTES),
    ]
    if big_wall_s is not None:
        checks.insert(
            3,
            (
                f"16M events <= 15 min (wall, --workers {m.workers})",
                f"{big_wall_s / 60:,.1f} min",
                big_wall_s <= TARGET_BIG_LOG_S,
            ),
        )
    print(f"\n{'target':<44}{'this run':>14}")
    for label, value, ok in checks:
        print(f"  {label:<42}{value:>14}  {'PASS' if ok else 'FAIL'}")
    return {
        "log": log,
        "timing": {
            "parse": dataclasses.asdict(m.parse),
            "parse_validate_features": dataclasses.asdict(m.features),
            "engine": dataclasses.asdict(full),
            "parallel": dataclasses.asdict(m.parallel) if m.parallel else None,
            "workers": m.workers,
            "gc_s": m.gc_s,
            "embed_s": m.embed_s,
            "native": distillguard.NATIVE,
            "compiled_vs_source_s_per_event": m.native,
        },
        "load_average": {"before": m.load_before, "after": m.load_after},
        "accounts": accounts,
        "state_bytes": {"mean": mean, "p99": p99, "max": sizes[-1]},
        "memory_bytes": {
            "parts": m.parts,
            "rss_before": m.rss_before,
            "rss_mid": m.rss_mid,
            "rss_after": m.rss_after,
            "peak_rss": m.peak_rss,
        },
        "extrapolation_16m": {
            "seconds_cpu": big_s,
            "seconds_wall": TARGET_BIG_LOG_EVENTS / full.per_s_wall,
            "seconds_wall_workers": big_wall_s,
            "rss_linear_bytes": linear,
            "rss_marginal_bytes": marginal,
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
        "profiler; top 25 by own time"
    )
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="log size (at least)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument(
        "--profile", action="store_true", help=f"cProfile the engine over {PROFILE_EVENTS:,} events"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="extraction processes of the analyze --workers pass (1: no such pass)",
    )
    args = parser.parse_args()
    target = QUICK_EVENTS if args.quick else args.events
    if args.profile:
        target = min(target, PROFILE_EVENTS)
    with tempfile.TemporaryDirectory(prefix="engine-throughput-") as tmp:
        path = Path(tmp) / "events.jsonl"
        print(f"generating a log of >= {target:,} events ...", flush=True)
        log = generate_in_child(target, path)
        if args.profile:
            profile(path)
            return
        results = report(measure(path, log, args.workers))
    if args.out:
        args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
