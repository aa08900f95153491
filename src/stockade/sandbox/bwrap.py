"""The bubblewrap backend, for hosts where the agent may not use an OCI runtime as root.

Each step is its own ``bwrap`` sandbox over the same workspace and ``/tmp`` (both host tmpfs
mounts of the job), so a process a step leaves behind dies with that step's pid namespace.
bwrap cannot apply cgroup limits itself: as root we create the job's cgroup, put the step in
it before ``bwrap`` starts, and drop to the job's unprivileged host uid with ``setpriv`` (so
the user namespace maps the job onto that uid, never onto root). Without root the backend
needs a delegated cgroup v2 subtree, and refuses to run otherwise.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from stockade.errors import InfrastructureError, SandboxUnavailable
from stockade.sandbox.backend import StepLaunch, Verdict
from stockade.sandbox.cgroups import (
    CGROUP_ROOT,
    REQUIRED_CONTROLLERS,
    CgroupMode,
    SandboxCgroup,
    detect_mode,
    missing_controllers,
)
from stockade.sandbox.oci import MASKED_PATHS, env_list
from stockade.sandbox.oci_runtime import userns_available
from stockade.sandbox.seccomp import bpf_fd
from stockade.sandbox.spec import SHM_BYTES, SandboxSpec
from stockade.sandbox.workspace import mount_tmpfs, umount

_MASKED_PROC_FILES = {"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                      "/proc/timer_stats", "/proc/sched_debug"}
# Put the wrapper shell into every cgroup directory given, then become the command.
_JOIN = 'for f in $STOCKADE_CGROUPS; do echo $$ > "$f" || exit 125; done; exec "$@"'


def bwrap_argv(spec: SandboxSpec, tmp_dir: Path, seccomp_fd: int, argv: list[str],
               masked: tuple[str, ...] = ()) -> list[str]:
    """The bwrap command line for one step of ``spec`` (a pure function); ``masked`` files
    are hidden behind /dev/null."""
    masks = [arg for path in masked for arg in ("--ro-bind", "/dev/null", path)]
    # With a joined network namespace (the launcher enters it before bwrap starts) the step
    # shares it: loopback and the proxy listener only, owned by the host's user namespace.
    net = [] if spec.netns_path else ["--unshare-net"]
    return [
        "bwrap",
        "--unshare-user", "--unshare-pid", *net, "--unshare-ipc",
        "--unshare-uts", "--unshare-cgroup",
        "--uid", str(spec.uid), "--gid", str(spec.gid), "--hostname", spec.hostname,
        "--ro-bind", str(spec.rootfs), "/",
        "--proc", "/proc", *masks, "--dev", "/dev",
        "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
        "--bind", str(spec.workspace), "/workspace",
        "--bind", str(tmp_dir), "/tmp",
        "--cap-drop", "ALL", "--new-session", "--die-with-parent",
        "--seccomp", str(seccomp_fd),
        "--chdir", spec.cwd,
        "--", *argv,
    ]


def proc_masks() -> tuple[str, ...]:
    """The OCI runtimes' masked /proc files that this kernel has (bwrap mounts no /sys)."""
    return tuple(p for p in MASKED_PATHS if p in _MASKED_PROC_FILES and os.path.exists(p))


def _limit_files(mode: CgroupMode, spec: SandboxSpec) -> list[tuple[str, str, str]]:
    """(controller, file, value) to write, in order, for the spec's limits."""
    lim = spec.limits
    quota = max(1000, round(lim.cpus * 100_000))
    if mode is CgroupMode.V2:
        return [("", "memory.max", str(lim.memory_bytes)), ("", "memory.swap.max", "0"),
                ("", "pids.max", str(lim.pids)), ("", "cpu.max", f"{quota} 100000")]
    return [("memory", "memory.limit_in_bytes", str(lim.memory_bytes)),
            ("memory", "memory.memsw.limit_in_bytes", str(lim.memory_bytes)),
            ("pids", "pids.max", str(lim.pids)),
            ("cpu", "cpu.cfs_period_us", "100000"), ("cpu", "cpu.cfs_quota_us", str(quota))]


def _untraversable(path: Path) -> Path | None:
    """The first directory on the way to ``path`` that others may not search, if any."""
    for d in [*reversed(path.parents), path]:
        if not d.stat().st_mode & stat.S_IXOTH:
            return d
    return None


class BwrapBackend:
    """bubblewrap with cgroup limits the executor applies itself."""

    name = "bwrap"
    network_mode = "join"

    def __init__(self) -> None:
        self.binary = shutil.which("bwrap")
        self._mode = detect_mode()
        self._masked = proc_masks()

    def check(self) -> Verdict:
        """Usable only when every guarantee holds, cgroup limits included."""
        if self.binary is None:
            return Verdict(self.name, False, reasons=("bubblewrap (bwrap) is not installed",))
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
        reasons: list[str] = []
        if not userns_available():
            reasons.append("user namespaces are disabled (user.max_user_namespaces = 0)")
        try:
            import pyseccomp  # noqa: F401
        except (ImportError, OSError) as exc:
            reasons.append(f"cannot compile the seccomp profile (pyseccomp/libseccomp): {exc}")
        if os.geteuid() != 0:
            reasons.append("not root, so the job's memory/pids/cpu cgroup limits cannot be "
                           "enforced here (a delegated cgroup v2 subtree is not supported yet)")
        elif shutil.which("setpriv") is None:
            reasons.append("setpriv (util-linux) is missing: cannot drop to the job uid")
        missing = missing_controllers(self._mode)
        if missing:
            reasons.append(f"cgroup controllers missing: {', '.join(missing)}")
        return Verdict(self.name, not reasons, out.removeprefix("bubblewrap "), tuple(reasons),
                       ("each step is its own bwrap sandbox; daemons end with their step",))

    def require(self) -> None:
        """Raise :class:`SandboxUnavailable` unless :meth:`check` passes."""
        verdict = self.check()
        if not verdict.usable:
            raise SandboxUnavailable(
                f"sandbox backend bwrap cannot run here: {'; '.join(verdict.reasons)}",
                hint="run `stockade doctor` to see which backends this host supports",
            )

    def _cgroup(self, spec: SandboxSpec) -> SandboxCgroup:
        return SandboxCgroup(self._mode, spec.cgroups_path)

    def _own_dirs(self, spec: SandboxSpec) -> list[Path]:
        # On v1 only the hierarchies we limit: others (cpuset) need setup to accept tasks.
        rel = spec.cgroups_path.lstrip("/")
        if self._mode is CgroupMode.V2:
            return [CGROUP_ROOT / rel]
        return [CGROUP_ROOT / c / rel for c in REQUIRED_CONTROLLERS]

    def start(self, spec: SandboxSpec, bundle: Path) -> None:
        """Create the job's cgroup with its limits and its /tmp; no process runs yet."""
        for path in (spec.rootfs, bundle.parent):
            blocked = _untraversable(path)
            if blocked is not None:
                raise InfrastructureError(
                    f"bwrap runs as the job's unprivileged uid, which cannot reach {path} "
                    f"({blocked} is not searchable by others)",
                    hint=f"chmod o+x {blocked}, or keep the work root and images elsewhere")
        rel = spec.cgroups_path.lstrip("/")
        for d in self._own_dirs(spec):
            d.mkdir(parents=True, exist_ok=True)
        for controller, name, value in _limit_files(self._mode, spec):
            (CGROUP_ROOT / controller / rel / name).write_text(value)
        tmp = bundle.parent / "tmp"
        tmp.mkdir()
        mount_tmpfs(tmp, spec.limits.tmp_bytes, spec.host_uid, spec.host_gid, mode="1777")

    def step_launch(self, spec: SandboxSpec, bundle: Path, argv: list[str],
                    env: Mapping[str, str]) -> StepLaunch:
        """sh joins the cgroup, setpriv drops to the job's host uid, bwrap builds the sandbox."""
        fd = bpf_fd(spec.seccomp)
        os.set_inheritable(fd, True)
        procs = " ".join(str(d / "cgroup.procs") for d in self._own_dirs(spec))
        drop = ["setpriv", f"--reuid={spec.host_uid}", f"--regid={spec.host_gid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
        full_env = dict(e.split("=", 1) for e in env_list(env))
        enter = ["nsenter", f"--net={spec.netns_path}", "--"] if spec.netns_path else []
        return StepLaunch(
            argv=[*enter, "sh", "-c", _JOIN, "sh", *drop,
                  *bwrap_argv(spec, bundle.parent / "tmp", fd, argv, self._masked)],
            env={**full_env, "STOCKADE_CGROUPS": procs}, pass_fds=(fd,),
        )

    def init_pid(self, spec: SandboxSpec, bundle: Path) -> int | None:
        return None

    def kill(self, spec: SandboxSpec, bundle: Path) -> None:
        """SIGKILL everything in the job's cgroup until it is empty."""
        cgroup = self._cgroup(spec)
        deadline = time.monotonic() + 5.0
        while (pids := cgroup.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    continue
            time.sleep(0.005)

    def destroy(self, spec: SandboxSpec, bundle: Path) -> None:
        """Kill what is left, remove the cgroup and unmount /tmp."""
        self.kill(spec, bundle)
        self._cgroup(spec).remove()
        tmp = bundle.parent / "tmp"
        if tmp.is_mount() and not umount(tmp):
            umount(tmp, lazy=True)

    def state_paths(self, spec: SandboxSpec) -> list[Path]:
        return []
