"""What this host offers the sandbox: runtimes, cgroups, user namespaces, seccomp, verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stockade.errors import StockadeError
from stockade.sandbox.backend import Verdict
from stockade.sandbox.backends import verdicts
from stockade.sandbox.cgroups import detect_mode, missing_controllers
from stockade.sandbox.netns import create_job_netns
from stockade.sandbox.oci_runtime import userns_available


@dataclass(frozen=True)
class HostReport:
    """The host's sandboxing capabilities and each backend's verdict."""

    cgroup_mode: str
    cgroup_missing: tuple[str, ...]
    user_namespaces: bool
    max_user_namespaces: int
    seccomp_kernel: bool
    seccomp_library: str
    job_network: str  # "usable", or why a job's loopback-plus-listener namespace cannot be made
    backends: tuple[Verdict, ...]

    def usable(self, backend: str) -> bool:
        """Whether ``backend`` can give every guarantee here."""
        return any(v.backend == backend and v.usable for v in self.backends)


def _seccomp_kernel() -> bool:
    # A kernel with seccomp filter support reports a Seccomp line for every process.
    return any(line.startswith("Seccomp:")
               for line in Path("/proc/self/status").read_text().splitlines())


def _seccomp_library() -> str:
    try:
        import pyseccomp

        return f"libseccomp API level {pyseccomp.get_api()}"
    except (ImportError, OSError, AttributeError) as exc:
        return f"unavailable: {exc}"


def _job_network() -> str:
    # Make one job network namespace, as the executor does for every job, and drop it.
    try:
        netns = create_job_netns(port=0)
    except StockadeError as exc:
        return f"unavailable: {exc.message}"
    netns.close()
    return "usable"


def host_report() -> HostReport:
    """Probe this host (reads /proc and /sys, runs each runtime's ``--version``)."""
    mode = detect_mode()
    try:
        max_ns = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        max_ns = 0
    return HostReport(
        cgroup_mode=mode.value,
        cgroup_missing=tuple(missing_controllers(mode)),
        user_namespaces=userns_available(),
        max_user_namespaces=max_ns,
        seccomp_kernel=_seccomp_kernel(),
        seccomp_library=_seccomp_library(),
        job_network=_job_network(),
        backends=tuple(verdicts()),
    )
