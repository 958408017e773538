"""Decisions, the review queue, imported intelligence and the audit log, in one SQLite file.

Every change bumps one version counter in the same transaction, so a gateway replica knows
with a single-row read whether its in-memory copy is stale. Every change also writes an audit
row (who, what, why, with the evidence), and nothing is ever deleted: an appeal revokes the
actions on a target and records an explicit ``allow`` override, so the history stays readable.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from distillguard.store.sqlite import open_store

TargetKind = Literal["account", "key", "campaign", "cidr", "payment", "client", "template"]
ActionName = Literal["allow", "flag", "throttle", "degrade", "review", "block"]
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
ACTIONS: tuple[str, ...] = get_args(ActionName)
# The ladder: a later action is the stronger one. "allow" as a stored action is an override.
LADDER: tuple[str, ...] = ("allow", "flag", "throttle", "degrade", "review", "block")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('version', 0);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}',
    parent_id INTEGER,
    created_ts REAL NOT NULL,
    expires_ts REAL,
    revoked_ts REAL,
    revoked_by TEXT,
    revoke_reason TEXT
);
CREATE INDEX IF NOT EXISTS actions_active ON actions (revoked_ts, target_kind, target);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    reasons TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}',
    created_ts REAL NOT NULL,
    resolved_ts REAL,
    resolution TEXT,
    resolved_by TEXT
);
CREATE TABLE IF NOT EXISTS intel (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    campaign TEXT NOT NULL,
    confidence INTEGER NOT NULL,
    stix_id TEXT NOT NULL,
    imported_ts REAL NOT NULL,
    valid_until REAL,
    withdrawn_ts REAL,
    UNIQUE (kind, value, stix_id)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    what TEXT NOT NULL,
    target_kind TEXT,
    target TEXT,
    action TEXT,
    reasons TEXT NOT NULL DEFAULT '[]',
    evidence TEXT NOT NULL DEFAULT '{}'
);
"""


class DecisionStoreError(ValueError):
    """An operation that cannot be done (unknown id, bad target kind or action)."""


class UnknownId(DecisionStoreError):
    """No action or review item has that id."""


@dataclass(frozen=True, slots=True)
class StoredAction:
    id: int
    target_kind: str
    target: str
    action: str
    reason: str
    actor: str
    evidence: dict[str, Any]
    parent_id: int | None
    created_ts: float
    expires_ts: float | None
    revoked_ts: float | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def active(self, now: float) -> bool:
        return self.revoked_ts is None and (self.expires_ts is None or self.expires_ts > now)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReviewItem:
    id: int
    target_kind: str
    target: str
    reasons: list[str]
    evidence: dict[str, Any]
    created_ts: float
    resolved_ts: float | None = None
    resolution: str | None = None
    resolved_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class IntelRecord:
    kind: str
    value: str
    source: str
    campaign: str
    confidence: int
    stix_id: str
    valid_until: float | None = None  # the peer's own expiry: not matched after it


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: float
    actor: str
    what: str
    target_kind: str | None
    target: str | None
    action: str | None
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_ACTION_COLS = (
    "id, target_kind, target, action, reason, actor, evidence, parent_id, created_ts, expires_ts,"
    " revoked_ts, revoked_by, revoke_reason"
)
_REVIEW_COLS = (
    "id, target_kind, target, reasons, evidence, created_ts, resolved_ts, resolution, resolved_by"
)


def _action(r: tuple[Any, ...]) -> StoredAction:
    return StoredAction(
        id=r[0],
        target_kind=r[1],
        target=r[2],
        action=r[3],
        reason=r[4],
        actor=r[5],
        evidence=json.loads(r[6]),
        parent_id=r[7],
        created_ts=r[8],
        expires_ts=r[9],
        revoked_ts=r[10],
        revoked_by=r[11],
        revoke_reason=r[12],
    )


def _review(row: tuple[Any, ...]) -> ReviewItem:
    return ReviewItem(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]), *row[5:])


def check_target(kind: str, action: str | None = None) -> None:
    if kind not in TARGET_KINDS:
        raise DecisionStoreError(
            f"unknown target kind {kind!r}; expected one of {', '.join(TARGET_KINDS)}"
        )
    if action is not None and action not in ACTIONS:
        raise DecisionStoreError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")


def checked_action(
    target_kind: str, target: str, action: str, children: Sequence[tuple[str, str]]
) -> str:
    """Validate an action before any backend stores it; the target in its stored form."""
    check_target(target_kind, action)
    if not target:
        raise DecisionStoreError("the target must not be empty")
    for kind, _ in children:
        check_target(kind)
    if target_kind == "cidr":
        try:
            return str(ipaddress.ip_network(target, strict=False))
        except ValueError as exc:
            raise DecisionStoreError(f"not an IP range: {target!r}") from exc
    return target


class DecisionsUnavailable(RuntimeError):
    """The backend cannot be reached (Redis down, a locked file): retry later; nothing of the
    change was stored."""


class Decisions(Protocol):
    """What every decisions backend offers (SQLite for one machine, Redis for replicas)."""

    def close(self) -> None: ...
    def version(self) -> int: ...
    def add_action(
        self,
        target_kind: str,
        target: str,
        action: str,
        *,
        reason: str,
        actor: str,
        evidence: dict[str, Any] | None = None,
        parent_id: int | None = None,
        expires_ts: float | None = None,
        children: Sequence[tuple[str, str]] = (),
    ) -> StoredAction: ...
    def action(self, action_id: int) -> StoredAction: ...
    def actions(
        self, *, active_only: bool = True, parent_id: int | None = None
    ) -> list[StoredAction]: ...
    def revoke(self, action_id: int, *, actor: str, reason: str) -> StoredAction: ...
    def appeal(
        self, target_kind: str, target: str, *, actor: str, reason: str
    ) -> tuple[list[StoredAction], StoredAction]: ...
    def open_review(
        self,
        target_kind: str,
        target: str,
        *,
        reasons: list[str],
        evidence: dict[str, Any],
        actor: str,
    ) -> ReviewItem: ...
    def review(self, review_id: int) -> ReviewItem: ...
    def reviews(self, *, open_only: bool = False) -> list[ReviewItem]: ...
    def resolve_review(self, review_id: int, *, resolution: str, actor: str) -> ReviewItem: ...
    def import_intel(self, records: list[IntelRecord], *, actor: str, source_file: str) -> int: ...
    def intel(self) -> list[IntelRecord]: ...
    def withdraw_intel(
        self, *, source: str | None, campaign: str | None, actor: str, reason: str
    ) -> int: ...
    def record(
        self,
        *,
        actor: str,
        what: str,
        target_kind: str | None = None,
        target: str | None = None,
        action: str | None = None,
        reasons: list[str] | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> None: ...
    def audit(self, *, limit: int = 100, target: str | None = None) -> list[AuditEntry]: ...


class Appeals:
    """Appeals, built from the primitives every backend has."""

    def appeal(
        self: Decisions, target_kind: str, target: str, *, actor: str, reason: str
    ) -> tuple[list[StoredAction], StoredAction]:
        """Grant an appeal: revoke what acts on the target and record an ``allow`` override,
        which wins over every rule until it is itself revoked."""
        check_target(target_kind)
        revoked = [
            a
            for a in self.actions()
            if a.target_kind == target_kind and a.target == target and a.action != "allow"
        ]
        for a in revoked:  # the target's own actions: a campaign's other members stay blocked
            self.revoke(a.id, actor=actor, reason=f"appeal: {reason}")
        override = self.add_action(
            target_kind, target, "allow", reason=f"appeal granted: {reason}", actor=actor
        )
        for item in self.reviews(open_only=True):
            if item.target_kind == target_kind and item.target == target:
                self.resolve_review(item.id, resolution="allow", actor=actor)
        return [self.action(a.id) for a in revoked], override


class DecisionStore(Appeals):
    """SQLite. One connection, serialised by a lock: writes are rare (analysts, ladder
    changes)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._conn = open_store(path, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                if bump:  # audit-only rows change nothing a gateway enforces
                    self._conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'version'")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def version(self) -> int:
        """Bumped by every change, from any process: the cheap 'reload needed?' check."""
        return int(self._read("SELECT value FROM meta WHERE name = 'version'")[0][0])

    @staticmethod
    def _audit(
        conn: sqlite3.Connection,
        actor: str,
        what: str,
        kind: str | None,
        target: str | None,
        action: str | None,
        reasons: list[str],
        evidence: dict[str, Any],
    ) -> None:
        conn.execute(
            "INSERT INTO audit (ts, actor, what, target_kind, target, action, reasons, evidence)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                actor,
                what,
                kind,
                target,
                action,
                json.dumps(reasons),
                json.dumps(evidence, default=str),
            ),
        )

    # actions -------------------------------------------------------------------------
    def add_action(
        self,
        target_kind: str,
        target: str,
        action: str,
        *,
        reason: str,
        actor: str,
        evidence: dict[str, Any] | None = None,
        parent_id: int | None = None,
        expires_ts: float | None = None,
        children: Sequence[tuple[str, str]] = (),
    ) -> StoredAction:
        """Record an action; ``children`` (kind, target) inherit it (a campaign's indicators)."""
        target = checked_action(target_kind, target, action, children)
        evidence = evidence or {}
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO actions (target_kind, target, action, reason, actor, evidence,"
                " parent_id, created_ts, expires_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    target_kind,
                    target,
                    action,
                    reason,
                    actor,
                    json.dumps(evidence, default=str),
                    parent_id,
                    now,
                    expires_ts,
                ),
            )
            action_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO actions (target_kind, target, action, reason, actor, parent_id,"
                " created_ts, expires_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        k,
                        t,
                        action,
                        f"{reason} (via {target_kind} {target})",
                        actor,
                        action_id,
                        now,
                        expires_ts,
                    )
                    for k, t in children
                ],
            )
            self._audit(
                conn,
                actor,
                "action",
                target_kind,
                target,
                action,
                [reason],
                {**evidence, "indicators": len(children)},
            )
        return self.action(action_id)

    def action(self, action_id: int) -> StoredAction:
        rows = self._read(f"SELECT {_ACTION_COLS} FROM actions WHERE id = ?", (action_id,))  # noqa: S608
        if not rows:
            raise UnknownId(f"no action with id {action_id}")
        return _action(rows[0])

    def actions(
        self, *, active_only: bool = True, parent_id: int | None = None
    ) -> list[StoredAction]:
        sql = f"SELECT {_ACTION_COLS} FROM actions"  # noqa: S608
        where, args = [], []
        if active_only:
            where.append("revoked_ts IS NULL AND (expires_ts IS NULL OR expires_ts > ?)")
            args.append(time.time())
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_action(r) for r in self._read(sql + " ORDER BY id", tuple(args))]

    def revoke(self, action_id: int, *, actor: str, reason: str) -> StoredAction:
        """Revoke an action and every indicator it carried."""
        found = self.action(action_id)
        if found.revoked_ts is not None:
            raise DecisionStoreError(f"action {action_id} is already revoked")
        with self._write() as conn:
            conn.execute(
                "UPDATE actions SET revoked_ts = ?, revoked_by = ?, revoke_reason = ?"
                " WHERE (id = ? OR parent_id = ?) AND revoked_ts IS NULL",
                (time.time(), actor, reason, action_id, action_id),
            )
            self._audit(
                conn,
                actor,
                "revoke",
                found.target_kind,
                found.target,
                found.action,
                [reason],
                {"action_id": action_id},
            )
        return self.action(action_id)

    # review queue ---------------------------------------------------------------------
    def open_review(
        self,
        target_kind: str,
        target: str,
        *,
        reasons: list[str],
        evidence: dict[str, Any],
        actor: str,
    ) -> ReviewItem:
        """Queue a target for a human, once: an open item for the same target is returned."""
        check_target(target_kind)
        for item in self.reviews(open_only=True):
            if item.target_kind == target_kind and item.target == target:
                return item
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO reviews (target_kind, target, reasons, evidence, created_ts)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    target_kind,
                    target,
                    json.dumps(reasons),
                    json.dumps(evidence, default=str),
                    time.time(),
                ),
            )
            review_id = int(cur.lastrowid or 0)
            self._audit(
                conn, actor, "review opened", target_kind, target, "review", reasons, evidence
            )
        return self.review(review_id)

    def review(self, review_id: int) -> ReviewItem:
        rows = self._read(f"SELECT {_REVIEW_COLS} FROM reviews WHERE id = ?", (review_id,))  # noqa: S608
        if not rows:
            raise UnknownId(f"no review item with id {review_id}")
        return _review(rows[0])

    def reviews(self, *, open_only: bool = False) -> list[ReviewItem]:
        sql = f"SELECT {_REVIEW_COLS} FROM reviews"  # noqa: S608
        if open_only:
            sql += " WHERE resolved_ts IS NULL"
        return [_review(r) for r in self._read(sql + " ORDER BY id")]

    def resolve_review(self, review_id: int, *, resolution: str, actor: str) -> ReviewItem:
        """Close an item with the action the reviewer chose (recorded but not applied: the
        caller applies it, e.g. a block with the campaign's indicators)."""
        check_target("account", resolution)
        item = self.review(review_id)
        if item.resolved_ts is not None:
            raise DecisionStoreError(f"review item {review_id} is already resolved")
        with self._write() as conn:
            conn.execute(
                "UPDATE reviews SET resolved_ts = ?, resolution = ?, resolved_by = ? WHERE id = ?",
                (time.time(), resolution, actor, review_id),
            )
            self._audit(
                conn,
                actor,
                "review resolved",
                item.target_kind,
                item.target,
                resolution,
                item.reasons,
                {"review_id": review_id},
            )
        return self.review(review_id)

    # intelligence ---------------------------------------------------------------------
    def import_intel(self, records: list[IntelRecord], *, actor: str, source_file: str) -> int:
        """Store a peer's indicators; returns how many were new."""
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO intel (kind, value, source, campaign, confidence, stix_id,"
                " imported_ts, valid_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.kind,
                        r.value,
                        r.source,
                        r.campaign,
                        r.confidence,
                        r.stix_id,
                        time.time(),
                        r.valid_until,
                    )
                    for r in records
                ],
            )
            added = conn.total_changes - before
            self._audit(
                conn,
                actor,
                "intel imported",
                None,
                None,
                None,
                [source_file],
                {"indicators": len(records), "new": added},
            )
        return added

    def intel(self) -> list[IntelRecord]:
        """The peer indicators in force: not withdrawn, not past their own expiry."""
        rows = self._read(
            "SELECT kind, value, source, campaign, confidence, stix_id, valid_until FROM intel"
            " WHERE withdrawn_ts IS NULL AND (valid_until IS NULL OR valid_until > ?)"
            " ORDER BY id",
            (time.time(),),
        )
        return [IntelRecord(*row) for row in rows]

    def withdraw_intel(
        self, *, source: str | None, campaign: str | None, actor: str, reason: str
    ) -> int:
        """Stop matching a peer's indicators (by source and/or campaign); returns how many."""
        if source is None and campaign is None:
            raise DecisionStoreError("name the source or the campaign to withdraw")
        where = ["withdrawn_ts IS NULL"]
        args: list[object] = [time.time()]
        for column, value in (("source", source), ("campaign", campaign)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE intel SET withdrawn_ts = ? WHERE " + " AND ".join(where),  # noqa: S608
                tuple(args),
            )
            self._audit(
                conn,
                actor,
                "intel withdrawn",
                None,
                source or campaign,
                None,
                [reason],
                {"source": source, "campaign": campaign, "indicators": cur.rowcount},
            )
        return int(cur.rowcount)

    # audit ---------------------------------------------------------------------------
    def record(
        self,
        *,
        actor: str,
        what: str,
        target_kind: str | None = None,
        target: str | None = None,
        action: str | None = None,
        reasons: list[str] | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """An audit row with no state change (a rule moving an account up the ladder)."""
        with self._write(bump=False) as conn:
            self._audit(
                conn, actor, what, target_kind, target, action, reasons or [], evidence or {}
            )

    def audit(self, *, limit: int = 100, target: str | None = None) -> list[AuditEntry]:
        sql = (
            "SELECT id, ts, actor, what, target_kind, target, action, reasons, evidence FROM audit"
        )
        args: tuple[Any, ...] = ()
        if target is not None:
            sql += " WHERE target = ?"
            args = (target,)
        rows = self._read(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [
            AuditEntry(
                id=r[0],
                ts=r[1],
                actor=r[2],
                what=r[3],
                target_kind=r[4],
                target=r[5],
                action=r[6],
                reasons=json.loads(r[7]),
                evidence=json.loads(r[8]),
            )
            for r in rows
        ]


def open_decisions(
    backend: str,
    path: Path,
    *,
    redis_url: str = "",
    redis_prefix: str = "distillguard:",
    timeout_s: float = 0.5,
) -> Decisions:
    """The decisions backend the config names: ``sqlite`` (one machine; replicas on the same
    host share the file) or ``redis`` (replicas anywhere)."""
    if backend == "redis":
        from distillguard.store.redis_decisions import RedisDecisionStore

        return RedisDecisionStore(redis_url, redis_prefix, timeout_s)
    return DecisionStore(path)
