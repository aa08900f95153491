"""One registered job inside the proxy: its configuration, counters, and event delivery."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field

from .interface import (
    Decision,
    EgressEvent,
    EventCallback,
    EventKind,
    JobCounters,
    JobEgress,
    Reason,
)

log = logging.getLogger("stockade.egress")


@dataclass
class JobState:
    """Mutable per-job state; touched only from the proxy's event loop."""

    config: JobEgress
    on_event: EventCallback
    listener: socket.socket
    sessions: set[asyncio.Task[None]] = field(default_factory=set)
    accept_task: asyncio.Task[None] | None = None
    connections: int = 0
    upstream_connections: int = 0
    requests: int = 0
    denied: int = 0
    would_deny: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    closed_open: int = 0
    allowed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.allowed = self.config.allowlist.texts()

    @property
    def job_id(self) -> str:
        return self.config.job_id

    def bytes_left(self) -> int:
        """Bytes the job may still move (up plus down) before its byte limit."""
        return max(self.config.limits.max_bytes - self.bytes_up - self.bytes_down, 0)

    def counters(self) -> JobCounters:
        return JobCounters(
            job_id=self.job_id, connections=self.connections,
            upstream_connections=self.upstream_connections, requests=self.requests,
            denied=self.denied, would_deny=self.would_deny, bytes_up=self.bytes_up,
            bytes_down=self.bytes_down, closed_open=self.closed_open,
        )

    def emit(self, event: EgressEvent) -> None:
        """Count the event and hand it to the job's callback (whose errors are only logged)."""
        self.requests += 1
        if event.decision is Decision.DENY:
            self.denied += 1
        if event.would_deny:
            self.would_deny += 1
        try:
            self.on_event(event)
        except Exception:
            log.exception("egress event callback failed (job %s, run %s)",
                          self.job_id, self.config.run_id)

    def event(
        self,
        *,
        kind: EventKind,
        started: float,
        started_mono: float,
        decision: Decision,
        reason: Reason,
        detail: str,
        host: str = "",
        port: int = 0,
        ip: str | None = None,
        would_deny: bool = False,
        rule: str | None = None,
        bytes_up: int = 0,
        bytes_down: int = 0,
        method: str = "",
        path: str = "",
        status: int | None = None,
    ) -> EgressEvent:
        """An event stamped with the job's ids, tier and allowlist."""
        return EgressEvent(
            job_id=self.job_id, run_id=self.config.run_id, kind=kind, host=host, port=port,
            ip=ip, decision=decision, would_deny=would_deny, reason=reason, detail=detail,
            rule=rule, bytes_up=bytes_up, bytes_down=bytes_down,
            duration_s=time.monotonic() - started_mono, started_at=started, method=method,
            path=path, status=status, tier=self.config.tier,
            allowed=self.allowed,
        )
