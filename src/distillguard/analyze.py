"""``distillguard analyze``: the engine over a historical log, causally, with a report.

Events are replayed in file order, which must be time order (as the gateway and the simulator
write them); an event older than its predecessor is an error, since a verdict computed out of
order would not be the one the gateway would have given.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from distillguard.engine import Engine, batch_gc, campaign_id_of
from distillguard.engine_config import EngineConfig
from distillguard.events import (
    Event,
    EventError,
    carries_request,
    decode_line,
    open_log,
    parse_ts,
    read_jsonl,
)
from distillguard.features.matcher import Matcher, build_matcher
from distillguard.features.request import RequestFeatures, TextCache, extract
from distillguard.report.analyze_report import write_report
from distillguard.report.tape import Tape


def read_events(path: Path) -> Iterator[Event]:
    """JSONL (``.jsonl``, ``.jsonl.gz``) or Parquet (``.parquet``, needs pyarrow)."""
    if path.suffix == ".parquet":
        yield from _read_parquet(path)
    else:
        yield from read_jsonl(path)


def _read_parquet(path: Path) -> Iterator[Event]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise EventError("reading Parquet needs pyarrow: pip install pyarrow") from exc
    table = pq.ParquetFile(path)
    for batch in table.iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            yield row_to_event(row)


@dataclass
class AnalyzeResult:
    events: int
    accounts: int
    flagged_accounts: int
    campaigns: int
    flagged_campaigns: int


def row_to_event(row: dict[str, Any]) -> Event:
    """A Parquet row as an event: nested columns may be stored as JSON strings by some writers."""
    for name in ("request", "response", "decision", "account_meta"):
        if isinstance(row.get(name), str):
            row[name] = orjson.loads(row[name])
    return {k: v for k, v in row.items() if v is not None}


class Replay:
    """The causal fold shared by ``analyze`` and the Spark path: features in time order into
    one engine (and the report's tape)."""

    def __init__(self, config: EngineConfig | None, report: bool):
        self.engine = Engine(config)
        # Timelines for the HTML report: ~18 bytes per request (no signal columns), so a
        # 16M-event log costs ~0.3 GB more; ``report=False`` skips it.
        self.tape = Tape([], capacity=None) if report else None
        self.events = 0

    def judge(self, f: RequestFeatures) -> None:
        verdict = self.engine.process_features(f)
        if self.tape is not None:
            action = "flag" if verdict.flagged else "allow"
            self.tape.record(verdict.ts, f.account_id, action, f.capability, verdict.score, {})

    def features(self, event: Event) -> RequestFeatures | None:
        """None for an event refused for bad input before it was read: nothing to judge."""
        if not carries_request(event):
            return None
        return extract(event, self.engine.matcher, self.engine.text_cache)


def analyze(
    events: Iterator[Event],
    out: Path,
    config: EngineConfig | None = None,
    progress: Any = None,
    report: bool = True,
) -> AnalyzeResult:
    replay = Replay(config, report)
    extracted = ((parse_ts(event["ts"]), replay.features(event)) for event in events)
    return fold(replay, extracted, out, progress)


def analyze_parallel(
    path: Path,
    out: Path,
    config: EngineConfig | None = None,
    progress: Any = None,
    report: bool = True,
    workers: int = 2,
) -> AnalyzeResult:
    """``analyze`` of a JSONL log (``.gz`` allowed) with reading, validation and feature
    extraction in ``workers`` processes, blocks of lines at a time, while this process folds
    the features in the log's order: the same verdicts, since only the fold depends on other
    requests (as ``analyze --spark`` does on a cluster)."""
    if path.suffix == ".parquet":
        raise EventError("--workers reads JSONL logs; for Parquet use --spark")
    replay = Replay(config, report)
    backend = replay.engine.config.lexicon_backend
    return fold(replay, extract_in_workers(path, workers, backend), out, progress)


def fold(
    replay: Replay,
    extracted: Iterator[tuple[float, RequestFeatures | None]],
    out: Path,
    progress: Any = None,
) -> AnalyzeResult:
    """Every event's features (None: nothing to judge) into the engine, in time order."""
    with batch_gc():
        for replay.events, f in enumerate(in_time_order(extracted), start=1):
            if progress is not None:
                progress.update(1)
            if f is not None:
                replay.judge(f)
    return write_outputs(replay, out)


def in_time_order(
    extracted: Iterator[tuple[float, RequestFeatures | None]],
) -> Iterator[RequestFeatures | None]:
    """The features of (ts, features) pairs; an event older than its predecessor is an error."""
    last_ts = float("-inf")
    for n, (ts, f) in enumerate(extracted, start=1):
        if ts < last_ts:
            raise EventError(f"event {n} is older than the one before it; sort the log by ts")
        last_ts = ts
        yield f


BLOCK_LINES = 2_000  # a block of a .gz log or a pipe, read here and sent to a worker
# A block of a plain JSONL log: a byte range (ending at a line's end) that the worker reads
# itself, so that this process, which folds, neither reads nor ships the log's bytes.
BLOCK_BYTES = 6 << 20
_worker: tuple[Matcher, TextCache] | None = None  # a worker process's matcher and cache

Extracted = list[tuple[float, RequestFeatures | None]]


class BlockLineError(Exception):
    """A bad line in a block, numbered within the block (the worker does not know where its
    block starts; the process that folds the blocks in order does)."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(line, detail)
        self.line, self.detail = line, detail


def read_range(path: str, start: int, end: int) -> list[bytes]:
    """The lines of a byte range of a file that ends at a line's end (or the file's)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = handle.read(end - start).split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the newline that ends the range ends its last line
    return lines


def byte_ranges(path: Path, size: int) -> Iterator[tuple[int, int]]:
    """A file in consecutive (start, end) byte ranges of about ``size``, each ending at the end
    of a line."""
    with path.open("rb") as handle:
        total = handle.seek(0, 2)
        start = 0
        while start < total:
            handle.seek(min(start + max(size, 1), total) - 1)
            handle.readline()  # to the end of the line that the range's last byte is in
            end = handle.tell()
            yield start, end
            start = end


def log_blocks(path: Path) -> Iterator[list[bytes] | tuple[int, int]]:
    """A log in blocks for the workers: byte ranges of a plain file, which each worker reads
    itself; the lines of a gzipped log or a pipe (no byte ranges there), read here."""
    if path.suffix != ".gz" and path.is_file():
        yield from byte_ranges(path, BLOCK_BYTES)
        return
    with open_log(path) as raw:
        while lines := list(islice(raw, BLOCK_LINES)):
            yield lines


def extract_block(
    path: str, block: list[bytes] | tuple[int, int], backend: str
) -> tuple[int, Extracted]:
    """In a worker: the number of lines in a block of a log (its lines, or a byte range of a
    plain log) and the features of its events (blank lines are not events)."""
    global _worker
    if _worker is None:
        _worker = build_matcher(backend), TextCache()
    matcher, cache = _worker
    lines = block if isinstance(block, list) else read_range(path, *block)
    out: Extracted = []
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            try:
                event = decode_line(line)
            except EventError as exc:
                raise BlockLineError(lineno, str(exc)) from None
            f = extract(event, matcher, cache) if carries_request(event) else None
            out.append((parse_ts(event["ts"]), f))
    return len(lines), out


def extract_in_workers(
    path: Path, workers: int, backend: str = "auto"
) -> Iterator[tuple[float, RequestFeatures | None]]:
    """The log's features in its order, extracted by ``workers`` processes; at most two
    blocks per worker are in flight, so memory stays bounded whatever the log's size."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[tuple[int, Extracted]]] = deque()
        first = 1  # the line the oldest pending block starts at

        def oldest() -> Extracted:
            nonlocal first
            try:
                count, extracted = pending.popleft().result()
            except BlockLineError as exc:
                raise EventError(f"{path}:{first + exc.line - 1}: {exc.detail}") from None
            first += count
            return extracted

        for block in log_blocks(path):
            pending.append(pool.submit(extract_block, str(path), block, backend))
            if len(pending) >= 2 * workers:
                yield from oldest()
        while pending:
            yield from oldest()


def write_outputs(replay: Replay, out: Path) -> AnalyzeResult:
    """accounts.jsonl, campaigns.jsonl, summary.json and report.html from a finished replay."""
    engine, tape, count = replay.engine, replay.tape, replay.events
    out.mkdir(parents=True, exist_ok=True)
    flagged = 0
    with (out / "accounts.jsonl").open("wb") as handle:
        for account_id, record in engine.accounts.items():
            campaign, _ = engine.campaign(account_id)
            is_flagged = record.flagged_at is not None or engine.is_flagged(account_id)
            flagged += is_flagged
            row = {
                "account_id": account_id,
                "requests": record.requests,
                "score": round(record.score, 4),
                "flagged": is_flagged,
                "flagged_at_request": record.flagged_at,
                "first_flagged_ts": record.flagged_ts,
                "campaign_id": campaign,
                "reasons": list(record.reasons or engine.explain(account_id)),
                "signals": {n: round(v, 4) for n, v in record.values.items()},
            }
            handle.write(orjson.dumps(row) + b"\n")
    roots = engine.campaign_roots()
    with (out / "campaigns.jsonl").open("wb") as handle:
        for root, members in roots.items():
            stats = engine.linker.stats(root)
            focus = {k: round(v / stats.requests, 4) for k, v in stats.capabilities.items()}
            row = {
                "campaign_id": campaign_id_of(root),
                "accounts": sorted(members),
                "requests": stats.requests,
                "first_seen": stats.first_ts,
                "last_seen": stats.last_ts,
                "flagged_at_ts": stats.flagged_ts,
                "evidence": dict(stats.evidence),
                "focus": focus,
                "harvest_share": round(stats.harvest_share, 4),
            }
            handle.write(orjson.dumps(row) + b"\n")
    result = AnalyzeResult(
        events=count,
        accounts=len(engine.accounts),
        flagged_accounts=flagged,
        campaigns=len(roots),
        flagged_campaigns=engine.campaign_counts()[1],
    )
    (out / "summary.json").write_text(json.dumps(result.__dict__, indent=2), encoding="utf-8")
    if tape is not None:
        write_report(out / "report.html", engine, tape, result.__dict__)
    return result
