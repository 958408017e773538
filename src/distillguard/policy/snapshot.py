"""The gateway's in-memory copy of the decisions store, and how fresh it is.

Lookups on the hot path are dict and set membership. A background task reloads the copy when
the store's version moves (checked every ``reload_interval_s``), so an analyst's block reaches
every replica within the bound; the replica that made a change reloads at once. When the store
cannot be read, ``fresh`` turns false after ``max_staleness_s`` and the caller applies the
gateway's fail mode.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from distillguard.background import reload_forever
from distillguard.config import ConfigError
from distillguard.features.request import network_of
from distillguard.intel.matcher import IntelMatcher
from distillguard.intel.records import from_record
from distillguard.policy.rules import PolicyConfig, load_policy
from distillguard.store.decisions import Decisions, IntelRecord, ReviewItem, StoredAction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Subject:
    """What identifies one request to the decisions: who, from where, with what."""

    account_id: str
    api_key_id: str
    ip: str
    campaign_id: str | None = None
    payment: str | None = None
    client: str | None = None
    templates: tuple[str, ...] = ()


@dataclass(slots=True)
class DecisionSnapshot:
    by_target: dict[tuple[str, str], list[StoredAction]] = field(default_factory=dict)
    cidrs: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, StoredAction]] = field(
        default_factory=list
    )
    open_reviews: set[tuple[str, str]] = field(default_factory=set)
    resolved_reviews: set[tuple[str, str]] = field(default_factory=set)
    intel: list[IntelRecord] = field(default_factory=list)
    # Built with the snapshot, in the reload thread: a big peer bundle must not stall requests.
    intel_matcher: IntelMatcher | None = None
    intel_templates: bool = False

    @classmethod
    def build(
        cls,
        actions: Iterable[StoredAction],
        reviews: Iterable[ReviewItem],
        intel: list[IntelRecord],
    ) -> DecisionSnapshot:
        snap = cls(intel=intel)
        for item in reviews:
            pending = item.resolved_ts is None
            (snap.open_reviews if pending else snap.resolved_reviews).add(
                (item.target_kind, item.target)
            )
        if intel:
            snap.intel_matcher = IntelMatcher([from_record(r) for r in intel])
            snap.intel_templates = any(r.kind == "template_minhash" for r in intel)
        for action in actions:
            target = action.target
            if action.target_kind == "cidr":
                try:
                    net = ipaddress.ip_network(target, strict=False)
                except ValueError:
                    log.warning("action #%d has an unusable range %r", action.id, target)
                    continue
                # /24 and /48 are what the engine calls a network: exact lookups for those.
                if net.prefixlen != (24 if net.version == 4 else 48):
                    snap.cidrs.append((net, action))
                    continue
                target = str(net)
            snap.by_target.setdefault((action.target_kind, target), []).append(action)
        return snap

    def matches(self, s: Subject) -> list[StoredAction]:
        """Every active stored action that applies to this request."""
        keys = [("account", s.account_id), ("key", s.api_key_id), ("cidr", network_of(s.ip))]
        if s.campaign_id:
            keys.append(("campaign", s.campaign_id))
        if s.payment:
            keys.append(("payment", s.payment))
        if s.client:
            keys.append(("client", s.client))
        keys.extend(("template", t) for t in s.templates)
        now = time.time()
        found = [a for k in keys for a in self.by_target.get(k, ()) if a.active(now)]
        if self.cidrs:
            try:
                addr = ipaddress.ip_address(s.ip)
            except ValueError:
                return found
            found.extend(
                a
                for net, a in self.cidrs
                if addr.version == net.version and addr in net and a.active(now)
            )
        return found


class DecisionCache:
    """The store's snapshot and the hot-reloaded policy file, kept fresh in the background."""

    def __init__(self, store: Decisions, policy_file: Path | None, *, max_staleness_s: float = 1.0):
        self.store = store
        self.policy_file = policy_file
        self.max_staleness_s = max_staleness_s
        self.policy = load_policy(policy_file)
        self._policy_mtime = self._mtime()
        self.snapshot = DecisionSnapshot()
        self._version = -1
        self.loaded_at = 0.0
        self._lock = threading.Lock()  # the reload thread and an admin's forced refresh
        self.refresh()

    def _mtime(self) -> float | None:
        try:
            return self.policy_file.stat().st_mtime if self.policy_file else None
        except OSError:
            return None

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.loaded_at <= self.max_staleness_s

    def refresh(self, *, force: bool = False) -> bool:
        """Reload what changed; True when the snapshot was rebuilt. Raises when the store
        cannot be read (the snapshot then ages until ``fresh`` is false)."""
        with self._lock:
            self._reload_policy()
            checked = time.monotonic()
            version = self.store.version()
            rebuilt = False
            if force or version != self._version:
                self.snapshot = DecisionSnapshot.build(
                    self.store.actions(), self.store.reviews(), self.store.intel()
                )
                self._version = version
                rebuilt = True
            self.loaded_at = checked
            return rebuilt

    def _reload_policy(self) -> None:
        mtime = self._mtime()
        if mtime == self._policy_mtime or self.policy_file is None:
            return
        self._policy_mtime = mtime
        try:
            self.policy = load_policy(self.policy_file)
            log.info("policy reloaded from %s", self.policy_file)
        except ConfigError:
            log.exception("invalid policy file; keeping the previous policy")

    async def refresh_forever(self, interval_s: float) -> None:
        await asyncio.to_thread(self.refresh)  # fresh from the start, not one interval late
        await reload_forever(
            self.refresh, interval_s, "decisions store reload failed; the snapshot is ageing"
        )

    def replace_policy(self, policy: PolicyConfig) -> None:
        """Tests and the admin API may set a policy directly."""
        self.policy = policy
