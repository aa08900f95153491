"""The proxy: one asyncio loop serving the listeners of many jobs, each with its own config.

A job is registered with a socket that is already listening (inside the job's network
namespace, the caller creates it) and unregistered at the job's end, which closes the listener
and every connection the job still has open. Each accepted connection is served by its job's
configuration only: jobs never see each other's traffic or counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

from .decide import system_resolver
from .interface import (
    Decision,
    EgressError,
    EventCallback,
    EventKind,
    JobCounters,
    JobEgress,
    Reason,
    Resolver,
)
from .session import ProxyContext, Session
from .state import JobState
from .tunnel import SPLICE

log = logging.getLogger("stockade.egress")
_ACCEPT_BACKOFF_S = 0.05  # after EMFILE and the like: let connections close, then accept again


class EgressProxy:
    """Serves registered jobs on the running event loop (see ``EgressThread`` for a thread)."""

    def __init__(self, *, resolver: Resolver | None = None, splice: bool = SPLICE) -> None:
        self._ctx = ProxyContext(resolver or system_resolver, splice)
        self._jobs: dict[str, JobState] = {}

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(self._jobs)

    async def register(self, listener: socket.socket, config: JobEgress,
                       on_event: EventCallback) -> None:
        """Start serving ``listener`` (already bound and listening) for the job in ``config``.

        The proxy owns the listener from now on and closes it at :meth:`unregister`.
        ``on_event`` runs on the proxy's loop for every event: keep it quick and thread-safe.
        """
        if config.job_id in self._jobs:
            raise EgressError(f"job {config.job_id} is already registered with the egress proxy",
                              hint="unregister it first")
        if listener.type != socket.SOCK_STREAM:
            raise EgressError("the egress listener must be a listening TCP socket",
                              hint="create it with socket.SOCK_STREAM and listen() on it")
        listener.setblocking(False)
        job = JobState(config, on_event, listener)
        self._jobs[config.job_id] = job
        job.accept_task = asyncio.create_task(self._accept(job), name=f"egress-accept-{job.job_id}")

    async def unregister(self, job_id: str) -> JobCounters:
        """Stop serving the job: close its listener and open connections; its final counters."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            raise EgressError(f"job {job_id} is not registered with the egress proxy",
                              hint="register it first (or it was already unregistered)")
        if job.accept_task is not None:
            job.accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job.accept_task
        job.listener.close()
        open_sessions = list(job.sessions)
        job.closed_open = len(open_sessions)
        for task in open_sessions:
            task.cancel()
        if open_sessions:
            await asyncio.wait(open_sessions)
        return job.counters()

    def counters(self, job_id: str) -> JobCounters:
        """The job's counters so far."""
        job = self._jobs.get(job_id)
        if job is None:
            raise EgressError(f"job {job_id} is not registered with the egress proxy")
        return job.counters()

    async def close(self) -> dict[str, JobCounters]:
        """Unregister every job; their final counters by job id."""
        return {job_id: await self.unregister(job_id) for job_id in list(self._jobs)}

    async def _accept(self, job: JobState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                client, _ = await loop.sock_accept(job.listener)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if job.listener.fileno() < 0:
                    return
                log.warning("egress accept failed (job %s, run %s): %s", job.job_id,
                            job.config.run_id, exc)
                await asyncio.sleep(_ACCEPT_BACKOFF_S)
                continue
            job.connections += 1
            client.setblocking(False)
            with contextlib.suppress(OSError):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(job.sessions) >= job.config.limits.max_open:
                client.close()
                self._refuse_open(job)
                continue
            task = asyncio.create_task(Session(self._ctx, job, client).run(),
                                       name=f"egress-{job.job_id}-{job.connections}")
            job.sessions.add(task)
            task.add_done_callback(job.sessions.discard)

    def _refuse_open(self, job: JobState) -> None:
        started = time.time()
        job.emit(job.event(
            kind=EventKind.INTERNAL, started=started, started_mono=time.monotonic(),
            decision=Decision.DENY, reason=Reason.CONNECTION_LIMIT,
            detail=f"closed a connection: the job already has {job.config.limits.max_open} open",
        ))
