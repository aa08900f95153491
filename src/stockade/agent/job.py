"""Run one lease from checkout to ``complete``: the unit of work of an agent slot.

The order is fixed: heartbeat and log shipper start, the exact commit is checked out, the
executor runs the steps (its output queued to the shipper), each step is reported, every log
chunk is delivered, and only then is the job completed with ``last_seq`` so the server can check
it holds every line. A lost lease is never completed; a drained one is released.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockade.agent.checkout import CheckoutError, WorkspaceSources
from stockade.agent.heartbeat import Heartbeat
from stockade.agent.identity import JobIdentity
from stockade.agent.masking import LEAK_LINE, JobMasker
from stockade.agent.network import JobNetwork, job_egress
from stockade.agent.protocol import AgentProtocol, LeaseLost, LogsIncomplete
from stockade.agent.shipper import LogShipper
from stockade.api.agent import CompleteRequest, Lease, StepReport
from stockade.egress.addresses import AddressRange
from stockade.egress.runner import EgressThread
from stockade.errors import LeftoverAlarm, StockadeError
from stockade.sandbox.interface import (
    JobExecutor,
    JobResult,
    JobSpec,
    Outcome,
    OutputLine,
    Resources,
    StepSpec,
)

COMPLETE_GIVE_UP_S = 600.0  # keep retrying `complete` through a server restart for this long


@dataclass(frozen=True)
class SlotClients:
    """One protocol connection per thread that talks for a running lease."""

    control: AgentProtocol  # the job thread: complete, release
    beat: AgentProtocol  # the heartbeat thread
    logs: AgentProtocol  # the shipper thread
    identity: AgentProtocol | None = None  # tokens and secrets (the proxy's and job's threads)

    def close(self) -> None:
        for client in (self.control, self.beat, self.logs, self.identity):
            if client is not None:
                client.close()


@dataclass(frozen=True)
class NetworkService:
    """The agent's egress proxy and the addresses no job may reach (the control plane)."""

    proxy: EgressThread
    deny_ranges: tuple[AddressRange, ...] = ()


@dataclass(frozen=True)
class LeaseControl:
    """Set by the agent from outside the job: ``cancel`` stops it, ``release`` hands it back."""

    cancel: threading.Event
    release: threading.Event


def to_job_spec(lease: Lease, extra_env: Mapping[str, str] | None = None) -> JobSpec:
    """The sandbox's view of a leased job, with the CI variables every job can rely on."""
    job = lease.job
    env = {
        **job.env,
        **(extra_env or {}),
        "CI": "true",
        "STOCKADE": "true",
        "STOCKADE_RUN_ID": lease.run_id,
        "STOCKADE_JOB_ID": lease.job_id,
        "STOCKADE_JOB": job.name,
        "STOCKADE_ATTEMPT": str(lease.attempt),
        "STOCKADE_TIER": lease.tier,
        "STOCKADE_SHA": lease.checkout.sha,
    }
    return JobSpec(
        job_id=lease.job_id,
        image=job.image,
        steps=tuple(
            StepSpec(
                name=s.name,
                run=s.run,
                env=dict(s.env),
                timeout_s=s.timeout_s,
                continue_on_error=s.continue_on_error,
            )
            for s in job.steps
        ),
        env=env,
        resources=Resources(
            cpus=job.resources.cpus,
            memory_bytes=job.resources.memory_bytes,
            pids=job.resources.pids,
            disk_bytes=job.resources.disk_bytes,
            timeout_s=job.resources.timeout_s,
        ),
    )


class _FlushingHooks:
    """The identity's step hooks, releasing lines the masker held once a step is over."""

    def __init__(self, identity: JobIdentity, masker: JobMasker) -> None:
        self._identity = identity
        self._masker = masker

    def before_step(self, index: int, step: StepSpec) -> Mapping[str, str]:
        return self._identity.before_step(index, step)

    def after_step(self, index: int, step: StepSpec) -> None:
        self._masker.flush()
        self._identity.after_step(index, step)


class _StepTracker:
    """Reports a step as ``running`` when it starts (step 0) or just before its first line."""

    def __init__(self, lease: Lease, shipper: LogShipper, masker: JobMasker) -> None:
        self._names = [s.name for s in lease.job.steps]
        self._shipper = shipper
        self._masker = masker
        self._seen: set[int] = set()

    def running(self, step: int) -> None:
        """Report ``step`` as running (once)."""
        if step >= 0 and step not in self._seen and step < len(self._names):
            self._seen.add(step)
            self._shipper.report(StepReport(index=step, name=self._names[step], status="running"))

    def on_output(self, line: OutputLine) -> None:
        self.running(line.step)
        self._masker.put(line)


def _infra(detail: str, started: float) -> JobResult:
    return JobResult(
        outcome=Outcome.INFRA, steps=(), duration_s=time.monotonic() - started, detail=detail
    )


def run_lease(
    lease: Lease,
    *,
    clients: SlotClients,
    sources: WorkspaceSources,
    executor: JobExecutor,
    control: LeaseControl,
    heartbeat_interval_s: float,
    log: Any,
    network: NetworkService | None = None,
) -> str:
    """Run ``lease`` to the end; returns its outcome, or ``released`` / ``lost``.

    Raises :class:`LeftoverAlarm` after completing the job when the executor found a previous
    job's remains: the agent must then stop taking work.
    """
    started = time.monotonic()
    shipper = LogShipper(
        lambda batch: clients.logs.send_logs(lease.lease_id, batch),
        on_error=lambda exc: log.warning("log delivery failed; retrying", error=exc.message),
    ).start()
    heartbeat = Heartbeat(
        lambda: clients.beat.heartbeat(lease.lease_id), heartbeat_interval_s, control.cancel, log
    ).start()
    def leaked() -> None:  # fail closed: hold the log, stop the job
        shipper.hold()
        control.cancel.set()

    masker = JobMasker(shipper.put, fail_closed=lease.job.mask_fail_closed, on_leak=leaked)

    def say(text: str) -> None:  # the agent's own lines are masked too (a host can carry one)
        masker.put(OutputLine(step=-1, stream="system", text=text, ts=time.time()))

    identity = JobIdentity(lease, clients.identity or clients.control,
                           add_secrets=masker.add_secrets, say=say, log=log)
    identity.start()
    try:
        checkout_s: list[float] = []
        try:
            job_network = _job_network(lease, network, say, identity, masker)
            result, alarm = _execute(
                lease, shipper, sources=sources, executor=executor, control=control, log=log,
                checkout_s=checkout_s, job=_JobParts(masker, identity, job_network),
            )
        except StockadeError as exc:  # the planned egress does not parse here: never run it
            log.error("egress configuration refused", error=exc.message)
            job_network, alarm = None, None
            result = _infra(f"egress configuration refused: {exc.message}", started)
        identity.end()
        if masker.leaked and lease.job.mask_fail_closed:
            result = dataclasses.replace(result, outcome=Outcome.FAILED,
                                         detail="stopped: " + LEAK_LINE)
        if job_network is not None and job_network.dropped:
            say(f"egress: {job_network.dropped} more connections were not recorded "
                f"(the first {job_network.recorded} were)")
        # One closing line (no separate checkout line: one request less per job), queued before
        # the step reports so it leaves with the job's last lines.
        sha12 = lease.checkout.sha[:12]
        checkout = f"; checkout of {sha12} {checkout_s[0]:.3f}s" if checkout_s else ""
        say(f"job {result.outcome.value} in {result.duration_s:.2f}s{checkout}"
            + (f": {result.detail}" if result.detail else ""))
        masker.flush()
        _report_steps(lease, result, shipper)
        outcome = _finish(lease, result, shipper, clients=clients, heartbeat=heartbeat,
                          control=control, log=log, started=started, network=job_network)
    finally:
        identity.end()
        heartbeat.stop()
        shipper.close(timeout_s=5.0)
    if alarm is not None:
        raise alarm
    return outcome


@dataclass(frozen=True)
class _JobParts:
    """What one lease's sandbox is wired to: the masked output, identity, network."""

    masker: JobMasker
    identity: JobIdentity
    network: JobNetwork | None


def _job_network(lease: Lease, network: NetworkService | None, say: Callable[[str], None],
                 identity: JobIdentity, masker: JobMasker) -> JobNetwork | None:
    """The job's egress on the agent's proxy; None gives the job no network at all."""
    if network is None or lease.job.egress is None:
        return None
    config = job_egress(lease, lease.job.egress, network.deny_ranges, internal=identity.handle)
    return JobNetwork(network.proxy, config, say, scrub=masker.mask_text)


def _finish(
    lease: Lease,
    result: JobResult,
    shipper: LogShipper,
    *,
    clients: SlotClients,
    heartbeat: Heartbeat,
    control: LeaseControl,
    log: Any,
    started: float,
    network: JobNetwork | None = None,
) -> str:
    """Complete the lease, or release it (drain), or leave it (lost); returns what happened."""
    if heartbeat.lost.is_set() or shipper.lost:
        log.warning("lease lost; not completing the job", outcome=result.outcome.value)
        return "lost"
    if control.release.is_set() and not heartbeat.cancelled_by_server.is_set():
        shipper.close(timeout_s=30.0)
        clients.control.release(lease.lease_id, "agent draining: job interrupted")
        log.info("lease released", outcome=result.outcome.value)
        return "released"
    ran = time.monotonic()
    outcome = _complete(lease, result, shipper, clients.control, log, network=network)
    stats = shipper.stats()
    # Where the time went, for operators chasing latency: checkout + sandbox, then the tail of
    # log delivery and `complete`.
    log.info("job finished", outcome=outcome, duration_s=round(time.monotonic() - started, 3),
             run_s=round(ran - started, 3), report_s=round(time.monotonic() - ran, 3),
             log_chunks=stats.chunks, log_requests=stats.requests)
    return outcome


def _execute(
    lease: Lease,
    shipper: LogShipper,
    *,
    sources: WorkspaceSources,
    executor: JobExecutor,
    control: LeaseControl,
    log: Any,
    checkout_s: list[float],
    job: _JobParts,
) -> tuple[JobResult, LeftoverAlarm | None]:
    started = time.monotonic()
    sha = lease.checkout.sha
    try:
        with sources.source(lease.checkout.repo_url, sha) as source:
            checkout_s.append(time.monotonic() - started)
            if control.cancel.is_set():
                return JobResult(Outcome.CANCELLED, (), time.monotonic() - started,
                                 "cancelled"), None
            return _sandbox(lease, shipper, executor, source, control=control, log=log,
                            started=started, job=job)
    except CheckoutError as exc:
        log.error("checkout failed", error=exc.message)
        shipper.system(f"checkout of {sha} failed: {exc.message}")
        return _infra(f"checkout failed: {exc.message}", started), None


def _sandbox(
    lease: Lease,
    shipper: LogShipper,
    executor: JobExecutor,
    source: Path,
    *,
    control: LeaseControl,
    log: Any,
    started: float,
    job: _JobParts,
) -> tuple[JobResult, LeftoverAlarm | None]:
    tracker = _StepTracker(lease, shipper, job.masker)
    # The first step starts with the sandbox: saying so now sends the report while the sandbox
    # is being created, instead of in front of the job's first line (which a user waits for).
    tracker.running(0)
    try:
        spec = to_job_spec(lease, job.identity.env())
        extra: dict[str, Any] = {}  # an executor without these features never sees them
        if job.network is not None:
            extra["network"] = job.network
        if job.identity.declares_secrets():
            extra["hooks"] = _FlushingHooks(job.identity, job.masker)
        return executor.run_job(spec, source, tracker.on_output, control.cancel, **extra), None
    except LeftoverAlarm as exc:
        log.error("sandbox leftover found; this agent stops taking work", error=exc.message)
        return _infra(f"sandbox: {exc.message}", started), exc
    except StockadeError as exc:
        log.error("sandbox failed", error=exc.message)
        return _infra(f"sandbox: {exc.message}", started), None
    except Exception as exc:  # an executor bug must still end the job, as infra, not hang it
        log.exception("executor crashed")
        return _infra(f"executor crashed: {type(exc).__name__}: {exc}", started), None


def _report_steps(lease: Lease, result: JobResult, shipper: LogShipper) -> None:
    for index, step in enumerate(result.steps):
        shipper.report(
            StepReport(
                index=index,
                name=step.name,
                status=step.outcome.value,
                exit_code=step.exit_code,
                duration_s=round(step.duration_s, 6),
            )
        )
    for index in range(len(result.steps), len(lease.job.steps)):
        shipper.report(
            StepReport(index=index, name=lease.job.steps[index].name, status="skipped")
        )


def _complete(
    lease: Lease, result: JobResult, shipper: LogShipper, control: AgentProtocol, log: Any,
    *, network: JobNetwork | None = None,
) -> str:
    """Deliver every line, then ``complete``; resend on ``logs_incomplete``, retry on outage."""
    deadline = time.monotonic() + COMPLETE_GIVE_UP_S
    delay = 0.2
    while time.monotonic() < deadline:
        if not shipper.flush(timeout_s=30.0):
            if shipper.lost:
                return "lost"
            continue
        request = CompleteRequest(
            outcome=result.outcome.value,
            detail=result.detail[:4096],
            duration_s=round(result.duration_s, 6),
            last_seq=shipper.last_seq,
            egress=network.events() if network is not None else [],
        )
        try:
            control.complete(lease.lease_id, request)
            return result.outcome.value
        except LogsIncomplete:
            log.warning("server misses log chunks; resending them")
            shipper.resend_all()
        except LeaseLost:
            log.warning("lease lost before completion")
            return "lost"
        except StockadeError as exc:
            log.warning("complete failed; retrying", error=exc.message)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    log.error("gave up completing the job; the lease will expire and the server retries it")
    return "lost"
