"""Prometheus metrics of one gateway process, on its own registry (no process globals).

Counted where each thing happens exactly once: requests and decisions when the request's event
is finished (so every request counts, refused or served), scoring latency around the decision
hook. Campaign gauges are read from the engine at scrape time, memoised for a few seconds:
scrapes must not cost the traffic anything measurable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from distillguard.events import Event

if TYPE_CHECKING:
    from distillguard.engine import SharedState

ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/models"})
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Scoring runs in tens of microseconds to a few milliseconds; the semantic layer adds ~20 ms.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class _Campaigns(Collector):
    def __init__(self, read: Callable[[], tuple[int, int]], ttl_s: float):
        self._read = read
        self._ttl_s = ttl_s
        self._cached: tuple[float, tuple[int, int]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self._ttl_s:
            self._cached = (now, self._read())
        linked, flagged = self._cached[1]
        family = GaugeMetricFamily(
            "distillguard_campaigns", "Linked groups of accounts the engine holds", labels=["state"]
        )
        family.add_metric(["linked"], linked)
        family.add_metric(["flagged"], flagged)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "distillguard_requests",
            "Requests by endpoint and HTTP status returned to the client",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "distillguard_decisions",
            "Decisions by action (allow, flag, throttle, degrade, block)",
            ["action"],
            registry=self.registry,
        )
        self.scoring = Histogram(
            "distillguard_scoring_seconds",
            "Time to decide one request (static policy, detection, response policy)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_pending = Gauge(
            "distillguard_events_pending",
            "Events waiting for the event log writer",
            registry=self.registry,
        )

    def watch_campaigns(self, read: Callable[[], tuple[int, int]], ttl_s: float = 5.0) -> None:
        """``read`` gives (linked campaigns, flagged campaigns)."""
        self.registry.register(_Campaigns(read, ttl_s))

    def watch_shared_state(self, shared: SharedState) -> None:
        """The engine state shared by replicas (``detection.state_backend: redis``)."""
        Gauge(
            "distillguard_shared_backlog",
            "Requests folded on this replica alone while Redis was down, not yet published",
            registry=self.registry,
        ).set_function(lambda: shared.backlog)
        Gauge(
            "distillguard_shared_folded",
            "Requests of the whole fleet this replica's engine has folded from the stream",
            registry=self.registry,
        ).set_function(lambda: shared.folded)

    def count(self, event: Event) -> None:
        outcome = event.get("response") or event.get("rejected") or {}
        endpoint = str(event.get("endpoint") or "")
        # Unknown paths would make a label per probe a scanner sends: one bucket for them all.
        if endpoint not in ENDPOINTS:
            endpoint = "other"
        self.requests.labels(endpoint, str(outcome.get("status"))).inc()
        decision = event.get("decision")
        if decision:
            self.decisions.labels(str(decision.get("action"))).inc()

    def exposition(self, pending: int) -> bytes:
        self.events_pending.set(pending)
        return generate_latest(self.registry)
