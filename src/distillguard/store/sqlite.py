"""One way to open the project's small SQLite stores (keys, decisions)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_store(path: Path, schema: str) -> sqlite3.Connection:
    """Autocommit, WAL (readers never wait for the one writer) and a 5 s busy timeout, so a
    CLI writing beside a running gateway waits instead of failing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(schema)
    return conn
