"""Events as a Parquet file: flat columns for what is flat, JSON text for the nested parts
(request, response, decision, account_meta) — what a data lake keeps and ``analyze`` reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.events import Event, parse_ts

TEXT = ("request_id", "account_id", "api_key_id", "org_id", "ip", "user_agent", "endpoint", "model")
NESTED = ("request", "response", "decision", "account_meta")
SCHEMA = pa.schema([("ts", pa.float64())] + [(name, pa.string()) for name in (*TEXT, *NESTED)])
BATCH = 50_000


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _batch(events: list[Event]) -> pa.RecordBatch:
    columns: dict[str, list[object]] = {"ts": [parse_ts(e["ts"]) for e in events]}
    for name in TEXT:
        columns[name] = [None if e.get(name) is None else str(e[name]) for e in events]
    for name in NESTED:
        columns[name] = [_json(e.get(name)) for e in events]
    return pa.RecordBatch.from_pydict(columns, schema=SCHEMA)


def write_parquet(events: Iterable[Event], path: Path) -> int:
    """Write ``events`` in order, in row groups of 50,000; returns how many."""
    count = 0
    with pq.ParquetWriter(path, SCHEMA) as writer:
        pending: list[Event] = []
        for event in events:
            pending.append(event)
            if len(pending) == BATCH:
                writer.write_batch(_batch(pending))
                count += len(pending)
                pending = []
        if pending:
            writer.write_batch(_batch(pending))
            count += len(pending)
    return count
