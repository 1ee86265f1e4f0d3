"""The service's Prometheus metrics (prometheus-client), in a registry of the server's own.

Counters move as this server works: records scored and failed, model-cache hits and loads,
HTTP requests by route template and status, with latency histograms. Gauges read when
scraped: runs by status and the queue's depth (from the store, so every server of a store
shows the same figures), this server's runs in flight and each one's records per second.
`GET /metrics` serves them (`caffebatch.api.health`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("caffebatch.metrics")

PREFIX = "caffebatch"
# request latencies from a health probe (ms) to an upload of a large package (a minute)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class StoreFigures:
    """What the store says at scrape time: deployments by status, and this server's runs."""

    by_status: Mapping[str, int]
    in_flight: int


class ServiceMetrics:
    """The instruments the worker pool and the HTTP middleware update, and their registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records_scored = Counter(
            f"{PREFIX}_records_scored", "Records scored and written by this server.", registry=r
        )
        self.records_failed = Counter(
            f"{PREFIX}_records_failed", "Records this server could not score.", registry=r
        )
        self.records_per_second = Gauge(
            f"{PREFIX}_run_records_per_second",
            "Records per second of each run in flight on this server.",
            ["deployment"],
            registry=r,
        )
        self.model_cache = Counter(
            f"{PREFIX}_model_cache_lookups",
            "Compiled models asked of the model cache: result=hit (in memory) or load.",
            ["result"],
            registry=r,
        )
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._store: _StoreCollector | None = None

    def watch_store(self, figures: Callable[[], StoreFigures]) -> None:
        """Read the store's figures at each scrape (once per registry; later calls replace it)."""
        if self._store is None:
            self._store = _StoreCollector(figures)
            self.registry.register(self._store)
        self._store.figures = figures

    def counted(self, scored: int, failed: int) -> None:
        """More records done (deltas, never negative)."""
        if scored > 0:
            self.records_scored.inc(scored)
        if failed > 0:
            self.records_failed.inc(failed)

    def run_ended(self, deployment_id: str) -> None:
        """Forget a finished run's rate (its label would otherwise stay at its last value)."""
        try:
            self.records_per_second.remove(deployment_id)
        except KeyError:
            pass

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    def __init__(self, figures: Callable[[], StoreFigures]) -> None:
        self.figures = figures

    def collect(self) -> Iterable[Metric]:
        try:
            figures = self.figures()
        except SQLAlchemyError as error:  # a scrape during a store outage still gets the rest
            log.warning("metrics: the store did not answer: %s", error)
            return
        runs = GaugeMetricFamily(
            f"{PREFIX}_runs", "Deployments in the store by status.", labels=["status"]
        )
        for status, count in sorted(figures.by_status.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_depth",
            "Deployments queued (INITIALIZING) waiting for a server.",
            value=figures.by_status.get("INITIALIZING", 0),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_runs_in_flight",
            "Runs executing on this server now.",
            value=figures.in_flight,
        )
