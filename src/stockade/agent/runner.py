"""The agent process: register, then ``concurrency`` slots each long-polling and running leases.

Drain (SIGTERM or SIGINT): no slot takes a new lease; running jobs finish. Past
``drain_timeout_s`` they are cancelled and released, so the server requeues them at once instead
of waiting for the lease to expire. The process then exits 0. A lease that arrives while
draining is released unstarted.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockade.agent.checkout import RepoCache, WorkspaceSources
from stockade.agent.job import LeaseControl, NetworkService, SlotClients, run_lease
from stockade.agent.log import get_logger
from stockade.agent.network import control_plane_ranges
from stockade.agent.protocol import AgentProtocol, CredentialRefused, ServerUnavailable
from stockade.api.agent import Lease, RegisterRequest, RegisterResponse
from stockade.egress.runner import EgressThread
from stockade.errors import InfrastructureError, LeftoverAlarm, StockadeError
from stockade.sandbox.interface import JobExecutor
from stockade.stopsignal import StopSignals

ExecutorFactory = Callable[[Path], JobExecutor]


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    pool: str
    registration_token: str = field(repr=False)
    name: str = field(default_factory=socket.gethostname)
    concurrency: int = 1
    work_dir: Path = Path(".stockade/work")
    lease_wait_s: float = 20.0
    drain_timeout_s: float = 300.0
    register_retry_s: float = 60.0  # how long to wait for a server that is still starting


class Agent:
    """One agent process serving one pool. ``run()`` returns the process exit code."""

    def __init__(self, config: AgentConfig, executor_factory: ExecutorFactory) -> None:
        self.config = config
        self._executor_factory = executor_factory
        self.draining = threading.Event()
        self._fatal: StockadeError | None = None
        self._controls: dict[int, LeaseControl] = {}
        self._executors: list[JobExecutor] = []
        self._ready = [threading.Event() for _ in range(config.concurrency)]  # executor made
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._sources = WorkspaceSources(
            RepoCache(config.work_dir / "cache"), config.work_dir / "sources",
            keep=max(4, 2 * config.concurrency),
        )
        self._log: Any = get_logger(pool=config.pool, agent=config.name)
        self._network: NetworkService | None = None
        self._registration: RegisterResponse | None = None
        self._signals = StopSignals()  # the handler only records; run() drains

    # -- lifecycle ---------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT start a drain (call from the main thread, which runs ``run()``)."""
        self._signals.install()

    def drain(self, why: str) -> None:
        if not self.draining.is_set():
            self._log.info("draining", reason=why)
            self.draining.set()

    def run(self) -> int:
        """Register, serve leases until drained or a fatal error; 0 after a clean drain."""
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        registration = self._register()
        if registration is None:
            return 0  # drained before the server ever answered
        self._registration = registration
        self._log = self._log.bind(agent_id=registration.agent_id)
        # One proxy (one event loop thread) serves every job's listener.
        self._network = NetworkService(EgressThread().start(),
                                       control_plane_ranges(self.config.server_url))
        self._log.info("registered", concurrency=self.config.concurrency)
        slots = [
            threading.Thread(target=self._slot, args=(i, ready), name=f"slot-{i}", daemon=True)
            for i, ready in enumerate(self._ready)
        ]
        for slot in slots:
            slot.start()
        while not self.draining.is_set():
            if self._signals.received is not None:
                self.drain(f"signal {self._signals.name}")
            elif self._fatal is not None:
                self.drain(f"fatal: {self._fatal.message}")
            else:
                self._signals.wait(0.2)
        # A slot still creating its executor would otherwise leave its host helpers behind.
        for ready in self._ready:
            ready.wait(timeout=60.0)
        self._wait_for_jobs()
        self._close_executors()
        if self._network is not None:
            self._network.proxy.close()
        if self._fatal is not None:
            self._log.error("stopped", error=self._fatal.message)
            raise self._fatal
        self._log.info("drained; exiting")
        return 0

    def _register(self) -> RegisterResponse | None:
        deadline = time.monotonic() + self.config.register_retry_s
        request = RegisterRequest(
            registration_token=self.config.registration_token,
            name=self.config.name,
            pool=self.config.pool,
        )
        with AgentProtocol(self.config.server_url) as proto:
            while True:
                try:
                    return proto.register(request)
                except ServerUnavailable as exc:
                    if time.monotonic() > deadline:
                        raise
                    self._log.info("server not reachable yet; retrying", error=exc.message)
                    if self._signals.wait(0.5) or self.draining.is_set():
                        return None

    def _wait_for_jobs(self) -> None:
        deadline = time.monotonic() + self.config.drain_timeout_s
        while self._busy_slots():
            if time.monotonic() > deadline:
                self._log.warning("drain timeout; cancelling and releasing running jobs")
                with self._lock:
                    for control in self._controls.values():
                        control.release.set()
                        control.cancel.set()
                deadline = float("inf")
            time.sleep(0.1)

    def _close_executors(self) -> None:
        # Slots are daemon threads that die with the process, so their executors' host
        # helpers (mount namespace, work-root bind mount) are released here, once no job runs.
        with self._lock:
            executors, self._executors = self._executors, []
        for executor in executors:
            close = getattr(executor, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # one broken close must not keep the others open
                    self._log.exception("closing a sandbox executor failed")

    def _busy_slots(self) -> bool:
        with self._lock:
            return bool(self._busy)

    # -- slots -------------------------------------------------------------------------------

    def _slot(self, index: int, ready: threading.Event) -> None:
        assert self._registration is not None
        credential = self._registration.credential
        poller = AgentProtocol(self.config.server_url, credential=credential)
        clients = SlotClients(
            control=poller,
            beat=poller.with_credential(credential),
            logs=poller.with_credential(credential),
            identity=poller.with_credential(credential),
        )
        slot_dir = self.config.work_dir / f"slot-{index}"
        try:
            executor = self._executor_factory(slot_dir / "sandbox")
            with self._lock:
                self._executors.append(executor)
        except StockadeError as exc:
            self._fatal = exc
            return
        except Exception as exc:  # a broken sandbox setup stops the agent, loudly
            self._log.exception("cannot create the sandbox executor")
            self._fatal = InfrastructureError(f"sandbox executor: {type(exc).__name__}: {exc}")
            return
        finally:
            ready.set()  # made or failed: either way the drain need not wait for it
        delay = 0.5
        try:
            while not self.draining.is_set():
                try:
                    lease = poller.lease(self.config.lease_wait_s)
                except CredentialRefused as exc:
                    self._fatal = InfrastructureError(
                        exc.message, hint="restart the agent with a new registration token"
                    )
                    return
                except StockadeError as exc:
                    self._log.warning("lease poll failed; retrying", error=exc.message)
                    self.draining.wait(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                delay = 0.5
                if lease is not None:
                    with self._lock:
                        # Busy from the moment the lease exists, so a drain waits for it.
                        self._busy.add(index)
                    try:
                        self._serve(index, lease, clients, executor)
                    finally:
                        with self._lock:
                            self._busy.discard(index)
                            self._controls.pop(index, None)
        finally:
            clients.close()

    def _serve(
        self, index: int, lease: Lease, clients: SlotClients, executor: JobExecutor
    ) -> None:
        assert self._registration is not None
        log = self._log.bind(
            job_id=lease.job_id, lease_id=lease.lease_id, run_id=lease.run_id,
            attempt=lease.attempt, slot=index,
        )
        if self.draining.is_set():
            self._release_unstarted(lease, clients, log)
            return
        control = LeaseControl(cancel=threading.Event(), release=threading.Event())
        with self._lock:
            self._controls[index] = control
        log.info("lease taken", job=lease.job.name, sha=lease.checkout.sha)
        try:
            run_lease(
                lease,
                clients=clients,
                sources=self._sources,
                executor=executor,
                control=control,
                heartbeat_interval_s=self._registration.heartbeat_interval_s,
                log=log,
                network=self._network,
            )
        except LeftoverAlarm as exc:
            self._fatal = exc
        except StockadeError as exc:
            log.error("lease handling failed", error=exc.message)
        except Exception:  # a bug here must not silently cost the agent a slot
            log.exception("lease handling crashed; the lease will expire and be retried")

    @staticmethod
    def _release_unstarted(lease: Lease, clients: SlotClients, log: Any) -> None:
        try:
            clients.control.release(lease.lease_id, "agent draining: job not started")
            log.info("lease released unstarted (draining)")
        except StockadeError as exc:
            log.warning("release failed; the lease will expire", error=exc.message)
