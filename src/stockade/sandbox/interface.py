"""The sandbox subsystem's public surface: what goes in, what comes out, and its errors.

A caller (the agent) builds a :class:`JobSpec`, gives it to :class:`Executor`-like objects'
``run_job`` with a workspace source and an output callback, and gets a :class:`JobResult`.
Nothing here knows about the control plane.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Resources:
    """What a job asks for, or (as ``maximums``) what the caller allows."""

    cpus: float = 1.0
    memory_bytes: int = 1 * GiB
    pids: int = 512
    disk_bytes: int = 2 * GiB
    timeout_s: float = 600.0

    def capped(self, maximums: Resources) -> Resources:
        """Each field limited to the maximum the caller passes (policy sets them)."""
        return Resources(
            cpus=min(self.cpus, maximums.cpus),
            memory_bytes=min(self.memory_bytes, maximums.memory_bytes),
            pids=min(self.pids, maximums.pids),
            disk_bytes=min(self.disk_bytes, maximums.disk_bytes),
            timeout_s=min(self.timeout_s, maximums.timeout_s),
        )


@dataclass(frozen=True)
class StepSpec:
    """One step: its own process (``bash -e -o pipefail -c run``) with its own environment."""

    name: str
    run: str
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    continue_on_error: bool = False


@dataclass(frozen=True)
class JobSpec:
    """A job as the executor sees it: image reference, steps, environment and limits."""

    job_id: str
    image: str  # image name or "sha256:..." digest
    steps: tuple[StepSpec, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"  # the job's own failure (a step exited non-zero)
    TIMEOUT = "timeout"  # wall-clock timeout of the job or a step
    OOM = "oom"  # killed by the memory limit
    LIMIT = "limit"  # another limit was hit (pids, disk)
    CANCELLED = "cancelled"
    INFRA = "infra"  # the sandbox could not be built, start a step, or be torn down; retry


@dataclass(frozen=True)
class OutputLine:
    """One line of a step's output (without its newline), stamped on arrival on the host."""

    step: int  # index into JobSpec.steps; -1 for the executor's own messages
    stream: str  # "stdout" | "stderr" | "system"
    text: str
    ts: float  # time.time() when the line was read


@dataclass(frozen=True)
class StepResult:
    name: str
    outcome: Outcome
    exit_code: int | None
    duration_s: float


@dataclass(frozen=True)
class JobResult:
    outcome: Outcome
    steps: tuple[StepResult, ...]
    duration_s: float
    detail: str = ""  # one human line on why, for anything but success


OutputCallback = Callable[[OutputLine], None]


class NetworkAttachment(Protocol):
    """The host side of a job's only way out (the egress proxy), given the job's listener.

    ``attach`` is called once the job's network namespace exists, before the sandbox does, with
    the listening socket on the job's ``127.0.0.1:port``; it returns the environment the job's
    steps get (``HTTP_PROXY`` ...). ``detach`` is called after the sandbox is destroyed and
    before teardown is proved: it must close the listener's connections and stop serving it.
    """

    def attach(self, listener: socket.socket, port: int) -> Mapping[str, str]: ...

    def detach(self) -> None: ...


class StepHooks(Protocol):
    """Called around each step, on the job's thread.

    ``before_step`` returns variables for that step's environment only (a secret leased just
    for it); when it returns any, every other process of the job is stopped before the step
    starts and again after it ends, so nothing else in the sandbox can read them from /proc.
    """

    def before_step(self, index: int, step: StepSpec) -> Mapping[str, str]: ...

    def after_step(self, index: int, step: StepSpec) -> None: ...


class JobExecutor(Protocol):
    """What the agent calls. ``cancel`` set from another thread stops the job as CANCELLED.

    Without ``network`` the job's network namespace is empty: no interface is up, nothing is
    reachable. With it, the namespace has loopback and one listener, which ``network`` serves.
    """

    def run_job(
        self,
        job: JobSpec,
        workspace_source: Path | None,
        on_output: OutputCallback,
        cancel: threading.Event | None = None,
        *,
        network: NetworkAttachment | None = None,
        hooks: StepHooks | None = None,
    ) -> JobResult: ...
