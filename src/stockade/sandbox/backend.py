"""What every sandbox backend offers the executor, and a backend's verdict on this host.

A backend turns a :class:`SandboxSpec` into a running sandbox (``start``), runs one step's
process in it (``step_argv`` gives the argv; the executor spawns and streams it), and destroys
it (``destroy``). ``check`` says whether it can give every guarantee here, and why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from stockade.sandbox.spec import SandboxSpec


@dataclass(frozen=True)
class Verdict:
    """A backend's self-check: usable, or the reasons it is not."""

    backend: str
    usable: bool
    version: str = ""
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def explain(self) -> str:
        """One line for humans."""
        if self.usable:
            return f"{self.backend}: usable ({self.version})" + (
                f"; {'; '.join(self.notes)}" if self.notes else "")
        return f"{self.backend}: unavailable: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class StepLaunch:
    """How to spawn one step: argv, the environment of the spawned host process, and fds it
    must inherit (e.g. a memfd holding the OCI process JSON).

    ``started_file``, when set, is a file the runtime writes once the step's process exists
    (``exec --pid-file``): missing after the launcher has exited, the step never started.
    """

    argv: list[str]
    env: Mapping[str, str] | None = None
    pass_fds: tuple[int, ...] = field(default_factory=tuple)
    started_file: Path | None = None


class Backend(Protocol):
    """One way to build sandboxes (crun, runc, runsc, bwrap)."""

    name: str
    #: How a job with a network gets its listener: "join" (the sandbox joins a namespace the
    #: executor made), "enter" (the runtime makes it; the executor enters it after start), or
    #: "" (not supported: such a job is refused).
    network_mode: str

    def check(self) -> Verdict: ...

    def start(self, spec: SandboxSpec, bundle: Path) -> None:
        """Create the sandbox with its pid 1 running; ``bundle`` is a private scratch dir."""

    def step_launch(self, spec: SandboxSpec, bundle: Path, argv: list[str],
                    env: Mapping[str, str]) -> StepLaunch:
        """How to run ``argv`` with exactly ``env`` in the started sandbox as the job user."""

    def init_pid(self, spec: SandboxSpec, bundle: Path) -> int | None:
        """Host pid of the sandbox's pid 1 (None when the backend has no long-lived one)."""

    def kill(self, spec: SandboxSpec, bundle: Path) -> None:
        """Kill every process of the sandbox now (timeouts, cancel)."""

    def destroy(self, spec: SandboxSpec, bundle: Path) -> None:
        """Kill and delete the sandbox and its cgroup; idempotent."""

    def state_paths(self, spec: SandboxSpec) -> list[Path]:
        """Runtime state the backend keeps for this sandbox (teardown checks they are gone)."""
