"""API keys: secrets are shown once and stored only as SHA-256 digests.

Keys are 256-bit random tokens, so a plain digest (no slow KDF) is the right tool: a lookup
costs one hash on the hot path and a leaked database reveals no usable key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillguard.store.sqlite import open_store

KEY_PREFIX = "dg-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL,
    account_meta TEXT
);
"""


class KeyStoreError(ValueError):
    """A key operation that cannot be done (unknown key, duplicate secret, bad account)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    account_id: str
    label: str | None
    created_at: float
    revoked_at: float | None
    # What the provider knows about the account (payment fingerprint, signup channel, ...):
    # it travels with every event as ``account_meta``.
    account_meta: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: the secret exists only here, at issue time."""

    secret: str
    key: ApiKey


def _key(row: tuple[Any, ...]) -> ApiKey:
    meta = json.loads(row[5]) if row[5] else None
    return ApiKey(row[0], row[1], row[2], row[3], row[4], meta)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class KeyStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._conn = open_store(path, _SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(api_keys)")}
        if "account_meta" not in columns:  # a key store from before account metadata
            self._conn.execute("ALTER TABLE api_keys ADD COLUMN account_meta TEXT")

    def close(self) -> None:
        with self._lock:  # waits for a reload running in another thread (gateway shutdown)
            self._conn.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(
        self,
        account_id: str,
        *,
        label: str | None = None,
        secret: str | None = None,
        account_meta: dict[str, Any] | None = None,
    ) -> IssuedKey:
        """Issue a key for an account. ``secret`` lets a demo or test choose it."""
        if not account_id or not account_id.strip():
            raise KeyStoreError("account id must not be empty")
        if secret is not None and len(secret) < 16:
            raise KeyStoreError("a chosen secret must be at least 16 characters")
        value = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            key_id="key_" + secrets.token_hex(6),
            account_id=account_id,
            label=label,
            created_at=time.time(),
            revoked_at=None,
            account_meta=account_meta,
        )
        try:
            self._conn.execute(
                "INSERT INTO api_keys (key_id, account_id, digest, label, created_at, account_meta)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.account_id,
                    digest(value),
                    label,
                    key.created_at,
                    json.dumps(account_meta) if account_meta else None,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise KeyStoreError("that secret is already issued") from exc
        return IssuedKey(secret=value, key=key)

    def revoke(self, key_id: str) -> ApiKey:
        cursor = self._conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (time.time(), key_id),
        )
        if cursor.rowcount == 0:
            known = self._conn.execute(
                "SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            raise KeyStoreError(
                f"key {key_id} is already revoked" if known else f"no key with id {key_id}"
            )
        return next(k for k in self.list() if k.key_id == key_id)

    def list(self, account_id: str | None = None) -> list[ApiKey]:
        sql = "SELECT key_id, account_id, label, created_at, revoked_at, account_meta FROM api_keys"
        args: tuple[str, ...] = ()
        if account_id is not None:
            sql += " WHERE account_id = ?"
            args = (account_id,)
        rows = self._conn.execute(sql + " ORDER BY created_at", args).fetchall()
        return [_key(row) for row in rows]

    def active_by_digest(self) -> dict[str, ApiKey]:
        """Every active key by digest: what the gateway holds in memory."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT digest, key_id, account_id, label, created_at, revoked_at, account_meta"
                " FROM api_keys WHERE revoked_at IS NULL"
            ).fetchall()
        return {row[0]: _key(row[1:]) for row in rows}

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap 'reload needed?' check."""
        with self._lock:
            (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        return int(version)
