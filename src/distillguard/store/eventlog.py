"""The embedded event log: SQLite in WAL mode, written in batches by a background thread.

Appending is a lock-free ``deque.append`` so logging never sits on a response's critical path.
A writer thread commits whatever is pending every ``flush_interval`` seconds in one transaction.
WAL with ``synchronous=NORMAL`` makes each commit survive a process crash (``kill -9``), so a
crash loses at most the events appended during the last flush window. A failed write is retried
on the next tick with the same batch: events are never dropped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import orjson

from distillguard.events import Event, parse_ts

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    request_id TEXT,
    account_id TEXT NOT NULL,
    status INTEGER,
    action TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_account_ts ON events (account_id, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _row(event: Event, body: bool = True) -> tuple[float, object, str, object, object, bytes]:
    response = event.get("response") or event.get("rejected") or {}
    decision = event.get("decision") or {}
    return (
        parse_ts(event["ts"]),
        event.get("request_id"),
        str(event["account_id"]),
        response.get("status"),
        decision.get("action"),
        orjson.dumps(event) if body else b"",
    )


class EventLog:
    """Batched, durable event writer. Use as a context manager or call start()/close()."""

    def __init__(self, path: Path, *, flush_interval_s: float = 0.2, max_batch: int = 2000):
        self.path = path
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self._pending: deque[Event] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._written = 0
        self._failures = 0
        connect(path).close()  # fail at start-up, not on the first flush, if the path is bad

    def __enter__(self) -> EventLog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def written(self) -> int:
        return self._written

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def write_failures(self) -> int:
        return self._failures

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="eventlog-writer", daemon=True)
            self._thread.start()

    def append(self, event: Event) -> None:
        self._pending.append(event)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    def close(self) -> None:
        """Flush everything pending and stop the writer."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
                stopping = self._stopping
                self._flush(conn)
                if stopping and not self._pending:
                    return
                if stopping:
                    time.sleep(0.05)  # the store is failing; keep trying until it accepts
        finally:
            conn.close()

    def _flush(self, conn: sqlite3.Connection) -> None:
        while self._pending:
            count = min(len(self._pending), self.max_batch)
            batch = [self._pending[i] for i in range(count)]
            rows = [_safe_row(e) for e in batch]
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO events (ts, request_id, account_id, status, action, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except sqlite3.Error:
                self._failures += 1
                log.exception("event log write failed; %d events kept for retry", len(batch))
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return
            for _ in range(count):
                self._pending.popleft()
            self._written += count


def _safe_row(event: Event) -> tuple[float, object, str, object, object, bytes]:
    """An event orjson cannot serialise (a 65-bit integer in provider metadata, say) is
    written through the standard library instead: one bad event must never stop the writer,
    and no event is dropped."""
    try:
        return _row(event)
    except Exception:
        log.warning("event %s stored via the json fallback", event.get("request_id"))
        text = json.dumps(event, default=str)
        ts, request_id, account, status, action, _ = _row(json.loads(text), body=False)
        return ts, request_id, account, status, action, text.encode()


def iter_logged_events(path: Path, *, since_seq: int = 0) -> Iterator[Event]:
    """Events in time order from an event log file (read-only; safe while the gateway runs)."""
    conn = connect(path, readonly=True)
    try:
        # Time order (then arrival at the writer): an event is stamped when its request arrives
        # but written when it ends, so a long stream is logged after shorter, later requests.
        cursor = conn.execute(
            "SELECT body FROM events WHERE seq > ? ORDER BY ts, seq", (since_seq,)
        )
        for (body,) in cursor:
            event: Event = orjson.loads(body)
            yield event
    finally:
        conn.close()


def count_logged_events(path: Path) -> int:
    conn = connect(path, readonly=True)
    try:
        (count,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(count)
    finally:
        conn.close()


def recent_events(path: Path, accounts: list[str], limit: int = 5) -> list[Event]:
    """The newest ``limit`` events of these accounts (the dashboard's sample requests)."""
    if not accounts or not path.exists():
        return []
    conn = connect(path, readonly=True)
    try:
        marks = ",".join("?" * len(accounts))
        cursor = conn.execute(
            f"SELECT body FROM events WHERE account_id IN ({marks}) "  # noqa: S608 - only marks
            "ORDER BY ts DESC, seq DESC LIMIT ?",
            (*accounts, limit),
        )
        return [orjson.loads(body) for (body,) in cursor]
    finally:
        conn.close()
