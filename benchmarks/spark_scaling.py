"""How `analyze --spark` scales with partitions, against the single-machine `analyze`, on one
simulated Parquet log (default: the default scenario's week at scale 2.1, ~300k events), and
whether the results are identical.

Spark parallelises reading and feature extraction; the causal fold stays on the driver. The
figures printed: wall time per stage for 1, 2, 4 partitions (local[2] on this 2-core
machine, so more than 2 partitions can only add overhead), the speed-up of the whole run
against the single-machine run measured in the same process, and byte equality of
accounts.jsonl / campaigns.jsonl / summary.json.

    .venv/bin/python benchmarks/spark_scaling.py [--scale 2.1] [--days 7] [--partitions 1 2 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from distillguard.analyze import analyze, read_events
from distillguard.detectors.semantic import shared_spotter
from distillguard.engine_config import EngineConfig
from distillguard.events import Event, read_jsonl
from distillguard.sim.world import build_world, default_scenario, write_world
from distillguard.spark import analyze_spark, session
from distillguard.store.parquet import write_parquet

OUTPUTS = ("accounts.jsonl", "campaigns.jsonl", "summary.json")


def _head(events: Iterator[Event], n: int) -> Iterator[Event]:
    for i, event in enumerate(events):
        if i == n:
            return
        yield event


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=2.1)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenario = default_scenario().with_(seed=args.seed, scale=args.scale, days=args.days)
        _, events, _ = write_world(build_world(scenario), work / "sim")
        parquet = work / "events.parquet"
        count = write_parquet(read_jsonl(events), parquet)
        print(f"log: {count:,} events ({parquet.stat().st_size / 1e6:.0f} MB Parquet)")
        config = EngineConfig()
        # Imports and pattern compilation warmed on a slice; the semantic layer's span cache
        # is emptied before every measured run, so no run reuses another's embeddings.
        analyze(_head(read_events(parquet), 2000), work / "warm-single", config, report=False)
        shared_spotter.cache_clear()
        started = time.perf_counter()
        analyze(read_events(parquet), work / "single", config, report=False)
        single_s = time.perf_counter() - started
        print(f"single-machine analyze: {single_s:.1f} s ({count / single_s:,.0f} events/s)")
        spark = session(args.cores)
        spark.range(1000).count()  # the JVM's start-up, outside the measured runs
        print("\n| partitions | extract (s) | sort + fold (s) | total (s) | vs single | equal |")
        print("|---|---|---|---|---|---|")
        for n in args.partitions:
            out = work / f"spark{n}"
            shared_spotter.cache_clear()
            _, t = analyze_spark(parquet, out, config, spark=spark, partitions=n, report=False)
            same = all(
                (work / "single" / f).read_bytes() == (out / f).read_bytes() for f in OUTPUTS
            )
            print(
                f"| {n} | {t.extract_s:.1f} | {t.fold_s:.1f} | {t.total_s:.1f} | "
                f"{single_s / t.total_s:.2f}x | {'yes' if same else 'NO'} |"
            )
        spark.stop()


if __name__ == "__main__":
    main()
