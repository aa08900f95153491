"""The server's Prometheus metrics (``GET /metrics``, text exposition format).

One registry per server (not the library's global one, so tests that build several apps in one
process do not share counters). Names follow Prometheus conventions: ``stockade_`` prefix,
``_total`` for counters, base units (bytes). Labels are bounded sets (pool, decision, reason
code, outcome): never a host name, a job id or anything a job chooses.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from stockade.api.agent import EgressEvent

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Counters the routes update; :meth:`render` is what ``/metrics`` answers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs_completed = Counter(
            "stockade_jobs_completed_total", "Jobs completed by agents, by pool and outcome.",
            ["pool", "outcome"], registry=self.registry)
        self.egress_decisions = Counter(
            "stockade_egress_decisions_total",
            "Connections and requests decided by jobs' egress proxies.",
            ["pool", "kind", "decision", "reason"], registry=self.registry)
        self.egress_would_deny = Counter(
            "stockade_egress_would_deny_total",
            "Connections audit mode let through that enforce mode would have denied.",
            ["pool"], registry=self.registry)
        self.egress_bytes = Counter(
            "stockade_egress_bytes_total", "Bytes through jobs' egress proxies.",
            ["pool", "direction"], registry=self.registry)

    def job_completed(self, pool: str, outcome: str, events: Iterable[EgressEvent]) -> None:
        self.jobs_completed.labels(pool, outcome).inc()
        for event in events:
            self.egress_decisions.labels(pool, event.kind, event.decision, event.reason).inc()
            if event.would_deny:
                self.egress_would_deny.labels(pool).inc()
            self.egress_bytes.labels(pool, "up").inc(event.bytes_up)
            self.egress_bytes.labels(pool, "down").inc(event.bytes_down)

    def render(self) -> bytes:
        text: bytes = generate_latest(self.registry)
        return text
