"""Decisions in Redis, so several gateway replicas (on several machines) share one truth.

The same contract as the SQLite store (``Decisions``): every change bumps one version counter
in the same MULTI/EXEC transaction as the change and its audit row, so a replica reloads only
when something changed; nothing is deleted (revocations and withdrawals are marks). Records are
JSON documents in hashes keyed by id; the audit log is a list, with one list of ids per target.

Durability is Redis's: run it with AOF (``appendonly yes``) if a restart must keep decisions.
When Redis cannot be reached, every call raises ``DecisionsUnavailable``: writes are refused
(the caller sees the error; nothing is half-written), and the gateways' snapshots age until
their fail mode applies; they recover on their own when Redis is back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, TypeVar

import redis
from redis.client import Pipeline

from distillguard.store.decisions import (
    Appeals,
    AuditEntry,
    DecisionStoreError,
    DecisionsUnavailable,
    IntelRecord,
    ReviewItem,
    StoredAction,
    UnknownId,
    check_target,
    checked_action,
)

T = TypeVar("T")
Fields = dict[Any, Any]  # what HSET takes (redis-py's mapping type is invariant)


class RedisDecisionStore(Appeals):
    def __init__(self, url: str, prefix: str = "distillguard:", timeout_s: float = 0.5):
        self.prefix = prefix
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
        )

    def _k(self, name: str) -> str:
        return self.prefix + name

    def close(self) -> None:
        self._redis.close()

    def __enter__(self) -> RedisDecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # plumbing ----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise DecisionsUnavailable(f"Redis is not reachable: {exc}") from exc

    def _next_id(self, table: str) -> int:
        return int(self._call(lambda: self._redis.incr(self._k(f"seq:{table}"))))

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[Pipeline]:
        """One MULTI/EXEC: the change, its audit row and the version move together."""
        pipe = self._redis.pipeline(transaction=True)
        yield pipe
        if bump:
            pipe.incr(self._k("version"))
        self._call(pipe.execute)

    def _audit(
        self,
        pipe: Pipeline,
        actor: str,
        what: str,
        kind: str | None,
        target: str | None,
        action: str | None,
        reasons: list[str],
        evidence: dict[str, Any],
    ) -> None:
        entry = AuditEntry(
            self._next_id("audit"), time.time(), actor, what, kind, target, action,
            reasons, json.loads(json.dumps(evidence, default=str)),
        )  # fmt: skip
        pipe.rpush(self._k("audit"), json.dumps(asdict(entry)))
        if target is not None:
            pipe.rpush(self._k(f"audit:target:{target}"), json.dumps(asdict(entry)))

    def _get(self, table: str, item_id: int) -> dict[str, Any] | None:
        raw = self._call(lambda: self._redis.hget(self._k(table), str(item_id)))
        return None if raw is None else dict(json.loads(str(raw)))

    def _all(self, table: str) -> list[dict[str, Any]]:
        rows = self._call(lambda: self._redis.hvals(self._k(table)))
        return sorted((json.loads(r) for r in rows), key=lambda r: r.get("id", 0))

    def version(self) -> int:
        return int(self._call(lambda: self._redis.get(self._k("version"))) or 0)

    # actions -------------------------------------------------------------------------------
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
        target = checked_action(target_kind, target, action, children)
        evidence = json.loads(json.dumps(evidence or {}, default=str))
        now = time.time()
        made = StoredAction(
            self._next_id("actions"), target_kind, target, action, reason, actor, evidence,
            parent_id, now, expires_ts,
        )  # fmt: skip
        rows: Fields = {str(made.id): json.dumps(asdict(made))}
        for kind, child in children:
            row = StoredAction(
                self._next_id("actions"), kind, child, action,
                f"{reason} (via {target_kind} {target})", actor, {}, made.id, now, expires_ts,
            )  # fmt: skip
            rows[str(row.id)] = json.dumps(asdict(row))
        with self._write() as pipe:
            pipe.hset(self._k("actions"), mapping=rows)
            self._audit(
                pipe, actor, "action", target_kind, target, action, [reason],
                {**evidence, "indicators": len(children)},
            )  # fmt: skip
        return made

    def action(self, action_id: int) -> StoredAction:
        row = self._get("actions", action_id)
        if row is None:
            raise UnknownId(f"no action with id {action_id}")
        return StoredAction(**row)

    def actions(
        self, *, active_only: bool = True, parent_id: int | None = None
    ) -> list[StoredAction]:
        now = time.time()
        found = [StoredAction(**r) for r in self._all("actions")]
        return [
            a
            for a in found
            if (not active_only or a.active(now))
            and (parent_id is None or a.parent_id == parent_id)
        ]

    def revoke(self, action_id: int, *, actor: str, reason: str) -> StoredAction:
        found = self.action(action_id)
        if found.revoked_ts is not None:
            raise DecisionStoreError(f"action {action_id} is already revoked")
        now = time.time()
        marked = {"revoked_ts": now, "revoked_by": actor, "revoke_reason": reason}
        rows: Fields = {
            str(a.id): json.dumps({**asdict(a), **marked})
            for a in (found, *self.actions(active_only=False, parent_id=action_id))
            if a.revoked_ts is None
        }
        with self._write() as pipe:
            pipe.hset(self._k("actions"), mapping=rows)
            self._audit(
                pipe, actor, "revoke", found.target_kind, found.target, found.action, [reason],
                {"action_id": action_id},
            )  # fmt: skip
        return self.action(action_id)

    # review queue ----------------------------------------------------------------------------
    def open_review(
        self,
        target_kind: str,
        target: str,
        *,
        reasons: list[str],
        evidence: dict[str, Any],
        actor: str,
    ) -> ReviewItem:
        check_target(target_kind)
        for item in self.reviews(open_only=True):
            if item.target_kind == target_kind and item.target == target:
                return item
        evidence = json.loads(json.dumps(evidence, default=str))
        item = ReviewItem(
            self._next_id("reviews"), target_kind, target, list(reasons), evidence, time.time()
        )
        with self._write() as pipe:
            pipe.hset(self._k("reviews"), str(item.id), json.dumps(asdict(item)))
            self._audit(
                pipe, actor, "review opened", target_kind, target, "review", reasons, evidence
            )
        return item

    def review(self, review_id: int) -> ReviewItem:
        row = self._get("reviews", review_id)
        if row is None:
            raise UnknownId(f"no review item with id {review_id}")
        return ReviewItem(**row)

    def reviews(self, *, open_only: bool = False) -> list[ReviewItem]:
        items = [ReviewItem(**r) for r in self._all("reviews")]
        return [i for i in items if not open_only or i.resolved_ts is None]

    def resolve_review(self, review_id: int, *, resolution: str, actor: str) -> ReviewItem:
        check_target("account", resolution)
        item = self.review(review_id)
        if item.resolved_ts is not None:
            raise DecisionStoreError(f"review item {review_id} is already resolved")
        done = {**asdict(item), "resolved_ts": time.time(), "resolution": resolution}
        done["resolved_by"] = actor
        with self._write() as pipe:
            pipe.hset(self._k("reviews"), str(review_id), json.dumps(done))
            self._audit(
                pipe, actor, "review resolved", item.target_kind, item.target, resolution,
                item.reasons, {"review_id": review_id},
            )  # fmt: skip
        return self.review(review_id)

    # intelligence ----------------------------------------------------------------------------
    @staticmethod
    def _intel_key(r: IntelRecord) -> str:
        return json.dumps([r.kind, r.value, r.stix_id])

    def import_intel(self, records: list[IntelRecord], *, actor: str, source_file: str) -> int:
        table = self._k("intel")
        now = time.time()
        new: Fields = {}
        known = set(self._call(lambda: self._redis.hkeys(table)))
        for r in records:
            key = self._intel_key(r)
            if key not in new and key not in known:
                seq = self._next_id("intel")  # import order, kept for reads
                new[key] = json.dumps(
                    {**asdict(r), "seq": seq, "imported_ts": now, "withdrawn_ts": None}
                )
        with self._write() as pipe:
            if new:
                pipe.hset(table, mapping=new)
            self._audit(
                pipe, actor, "intel imported", None, None, None, [source_file],
                {"indicators": len(records), "new": len(new)},
            )  # fmt: skip
        return len(new)

    def _intel_rows(self) -> list[dict[str, Any]]:
        rows = self._call(lambda: self._redis.hvals(self._k("intel")))
        return sorted((json.loads(r) for r in rows), key=lambda r: r["seq"])

    def intel(self) -> list[IntelRecord]:
        now = time.time()
        fields = IntelRecord.__dataclass_fields__
        return [
            IntelRecord(**{k: v for k, v in r.items() if k in fields})
            for r in self._intel_rows()
            if r["withdrawn_ts"] is None and (r["valid_until"] is None or r["valid_until"] > now)
        ]

    def withdraw_intel(
        self, *, source: str | None, campaign: str | None, actor: str, reason: str
    ) -> int:
        if source is None and campaign is None:
            raise DecisionStoreError("name the source or the campaign to withdraw")
        now = time.time()
        hit: Fields = {
            json.dumps([r["kind"], r["value"], r["stix_id"]]): json.dumps(
                {**r, "withdrawn_ts": now}
            )
            for r in self._intel_rows()
            if r["withdrawn_ts"] is None
            and (source is None or r["source"] == source)
            and (campaign is None or r["campaign"] == campaign)
        }
        with self._write() as pipe:
            if hit:
                pipe.hset(self._k("intel"), mapping=hit)
            self._audit(
                pipe, actor, "intel withdrawn", None, source or campaign, None, [reason],
                {"source": source, "campaign": campaign, "indicators": len(hit)},
            )  # fmt: skip
        return len(hit)

    # audit -------------------------------------------------------------------------------------
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
        with self._write(bump=False) as pipe:
            self._audit(
                pipe, actor, what, target_kind, target, action, reasons or [], evidence or {}
            )

    def audit(self, *, limit: int = 100, target: str | None = None) -> list[AuditEntry]:
        key = self._k("audit" if target is None else f"audit:target:{target}")
        rows = self._call(lambda: self._redis.lrange(key, -limit, -1))
        return [AuditEntry(**json.loads(r)) for r in reversed(rows)]
