"""``distillguard analyze --spark``: the same analysis over a Parquet log on Apache Spark.

What parallelises is what does not depend on other requests: reading and decoding events and
extracting their features (masking, hashing, lexicon matching — the detectors' own code in
``features``). The verdicts are a causal fold across all accounts (population statistics,
cross-account links), so the executors' features come back to the driver sorted by
(ts, position in the log) and go through one ``Engine`` exactly as ``analyze`` does: the
results are identical by construction, and a test checks they are.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from distillguard.analyze import AnalyzeResult, Replay, row_to_event, write_outputs
from distillguard.engine_config import EngineConfig
from distillguard.events import carries_request, parse_ts
from distillguard.features.matcher import build_matcher
from distillguard.features.request import TextCache, extract


@dataclass
class SparkTimings:
    partitions: int
    extract_s: float  # executors: read, decode, extract features (in parallel)
    fold_s: float  # sort, stream to the driver, the causal fold (sequential)
    total_s: float


def _extractor(lexicon_backend: str) -> Any:
    def run(rows: Iterable[str]) -> Iterator[tuple[float, int, bytes | None]]:
        matcher = build_matcher(lexicon_backend)
        cache = TextCache()
        for line in rows:
            # Rows arrive as JSON text (Spark's toJSON): far cheaper to decode than Row objects.
            data = orjson.loads(line)
            seq = data.pop("_seq")
            event = row_to_event(data)
            ts = parse_ts(event["ts"])
            if not carries_request(event):
                yield ts, seq, None
                continue
            f = extract(event, matcher, cache)
            yield ts, seq, pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL)

    return run


def session(cores: int | None = None) -> Any:
    """A local Spark session (tests, one machine); on a cluster, pass your own session."""
    from pyspark.sql import SparkSession

    cores = cores or os.cpu_count() or 1
    # Workers run this interpreter (the one with distillguard installed), not the PATH's.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("distillguard-analyze")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.sql.shuffle.partitions", str(max(2, cores)))
        .config("spark.driver.memory", os.environ.get("DISTILLGUARD_SPARK_MEMORY", "4g"))
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def analyze_spark(
    parquet: Path,
    out: Path,
    config: EngineConfig | None = None,
    *,
    spark: Any = None,
    partitions: int = 4,
    report: bool = True,
) -> tuple[AnalyzeResult, SparkTimings]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention

    started = time.perf_counter()
    spark = spark or session()
    replay = Replay(config, report)
    frame = spark.read.parquet(str(parquet))
    # The log's own order breaks ties between equal timestamps, as in ``analyze``.
    frame = frame.withColumn("_seq", F.monotonically_increasing_id())
    # Extract once, on every core at the same time (persisted), then sort what came out.
    extracted = (
        frame.repartition(partitions)
        .select(F.to_json(F.struct("*")).alias("json"))
        .rdd.map(lambda row: row[0])
        .mapPartitions(_extractor(replay.engine.config.lexicon_backend))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    extracted.count()
    extract_s = time.perf_counter() - started
    ordered = extracted.sortBy(lambda x: (x[0], x[1]), numPartitions=partitions)
    fold_started = time.perf_counter()
    for replay.events, (_, _, blob) in enumerate(
        ordered.toLocalIterator(prefetchPartitions=True), start=1
    ):
        if blob is not None:
            replay.judge(pickle.loads(blob))  # noqa: S301 - our own executors' output
    fold_s = time.perf_counter() - fold_started
    extracted.unpersist()
    result = write_outputs(replay, out)
    total = time.perf_counter() - started
    return result, SparkTimings(partitions, extract_s, fold_s, total)
