from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from distillguard.events import Event
from distillguard.store import eventlog
from distillguard.store.eventlog import EventLog, count_logged_events, iter_logged_events


def _event(i: int, account: str = "a") -> Event:
    return {
        "ts": 1000.0 + i,
        "request_id": f"r{i}",
        "account_id": account,
        "request": {"messages": [{"role": "user", "content": f"m{i}"}]},
        "response": {"status": 200},
    }


def test_events_from_many_threads_are_all_written_in_order_of_arrival(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    with EventLog(path, flush_interval_s=0.01, max_batch=64) as log:

        def produce(offset: int) -> None:
            for i in range(500):
                log.append(_event(offset + i, account=f"t{offset}"))

        threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert count_logged_events(path) == 2000
    events = list(iter_logged_events(path))
    for account in ("t0", "t1000", "t2000", "t3000"):
        mine = [e["request_id"] for e in events if e["account_id"] == account]
        assert mine == sorted(mine, key=lambda r: int(r[1:]))
    assert events[0]["request"]["messages"][0]["content"].startswith("m")


def test_close_flushes_what_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    log = EventLog(path, flush_interval_s=60.0)  # would not flush on its own for a minute
    log.start()
    for i in range(10):
        log.append(_event(i))
    log.close()
    assert count_logged_events(path) == 10
    assert log.written == 10 and log.pending == 0


def test_writes_are_batched_by_the_flush_window(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    with EventLog(path, flush_interval_s=0.3) as log:
        time.sleep(0.05)
        log.append(_event(1))
        assert count_logged_events(path) == 0  # not on the caller's path
        deadline = time.monotonic() + 2
        while count_logged_events(path) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)


class _FlakyConnection:
    """Fails the first insert the way a locked or full disk does."""

    def __init__(self, real: sqlite3.Connection):
        self.real = real
        self.failures_left = 1

    def execute(self, sql: str, *args: Any) -> Any:
        return self.real.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        if self.failures_left:
            self.failures_left -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.real.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self.real.in_transaction

    def close(self) -> None:
        self.real.close()


def test_a_failed_write_is_retried_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ev.sqlite"
    real_connect = eventlog.connect
    log = EventLog(path, flush_interval_s=0.01)
    monkeypatch.setattr(
        eventlog, "connect", lambda p, readonly=False: _FlakyConnection(real_connect(p))
    )
    with log:
        for i in range(5):
            log.append(_event(i))
        time.sleep(0.2)
    monkeypatch.setattr(eventlog, "connect", real_connect)
    assert log.write_failures == 1
    assert [e["request_id"] for e in iter_logged_events(path)] == [f"r{i}" for i in range(5)]


def test_rejected_events_index_their_status(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    with EventLog(path, flush_interval_s=0.01) as log:
        event = _event(1)
        del event["response"]
        event["rejected"] = {"status": 401}
        event["decision"] = {"action": "block"}
        log.append(event)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT status, action FROM events").fetchall() == [(401, "block")]
    conn.close()


def test_an_unserialisable_event_neither_stops_the_writer_nor_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    with EventLog(path, flush_interval_s=0.01) as log:
        bad = _event(1)
        bad["account_meta"] = {"created_at": 2**70}  # orjson refuses integers over 64 bits
        log.append(bad)
        log.append(_event(2))
    assert [e["request_id"] for e in iter_logged_events(path)] == ["r1", "r2"]


def test_export_is_in_time_order_even_when_written_out_of_order(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    with EventLog(path, flush_interval_s=0.01) as log:
        log.append(_event(5))  # a long stream that started later ended first ...
        log.append(_event(2))  # ... than one that started earlier
    assert [e["request_id"] for e in iter_logged_events(path)] == ["r2", "r5"]
