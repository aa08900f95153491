"""OCI runtime backends: crun (default), runc and runsc, all driven by the same ``config.json``.

A sandbox is one container whose pid 1 is a tiny reaper (:mod:`stockade.sandbox.init`); each
step is ``<runtime> exec`` of its own process into it, with its process JSON (and so its
environment, which may carry a secret) passed through a memfd, never argv or disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from stockade.errors import InfrastructureError, SandboxUnavailable
from stockade.sandbox.backend import StepLaunch, Verdict
from stockade.sandbox.cgroups import CgroupMode, detect_mode, missing_controllers
from stockade.sandbox.hostns import PrivateMountNamespace
from stockade.sandbox.oci import oci_config, process_config
from stockade.sandbox.proc import run_bounded
from stockade.sandbox.spec import SandboxSpec

_STATE_ROOTS = {"crun": Path("/run/crun"), "runc": Path("/run/runc"), "runsc": Path("/run/runsc")}
_RUNTIME_TIMEOUT_S = 30.0
_INIT_EXEC_WAIT_S = 2.0
_PID_FILE_ON_EXEC = frozenset({"crun", "runc"})  # runsc's exec flags differ: not checked
# The runtime makes the job's network namespace (loopback only) and the executor enters it: in a
# namespace its user namespace does not own, runc cannot mount sysfs, and crun falls back to
# bind-mounting the host's /sys (host interfaces visible). gVisor's netstack lives in its
# sentry, so a listener in the host-side namespace would not reach it.
_NETWORK_MODES = {"crun": "enter", "runc": "enter", "runsc": ""}


def userns_available() -> bool:
    """Whether this kernel lets us create user namespaces at all."""
    try:
        return int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0
    except (OSError, ValueError):
        return False


def memfd_with(data: bytes, name: str = "stockade") -> int:
    """A sealed-in-memory file holding ``data``, positioned at 0 (for /proc/self/fd/N)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return high_fd(fd)


def high_fd(fd: int) -> int:
    """``fd`` moved to a number >= 10 (close-on-exec), clear of fds 3 and 4 that the runc
    launcher rewires."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _kill_and_wait(pid: int, timeout: float = 5.0) -> None:
    """SIGKILL ``pid`` and wait until it has exited (a pidfd turns readable at exit)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        select.select([fd], [], [], timeout)
    except ProcessLookupError:
        return
    finally:
        os.close(fd)


class OciRuntimeBackend:
    """crun, runc or runsc as a sandbox backend."""

    def __init__(self, name: str) -> None:
        if name not in _STATE_ROOTS:
            raise ValueError(f"unknown OCI runtime {name}")
        self.name = name
        self.network_mode = _NETWORK_MODES[name]
        self.binary = shutil.which(name)
        self._mode = detect_mode()
        # Only crun needs the hybrid workaround; runc handles hybrid hosts itself.
        self._mntns = (PrivateMountNamespace()
                       if name == "crun" and self._mode is CgroupMode.HYBRID else None)
        self._init_files: dict[tuple[Path, str], tuple[int, int] | None] = {}

    # -- self-check -----------------------------------------------------------------------
    def check(self) -> Verdict:
        """Whether this runtime can give every guarantee on this host, and why not."""
        reasons: list[str] = []
        notes: list[str] = []
        version = ""
        if self.binary is None:
            return Verdict(self.name, False, reasons=(f"{self.name} is not installed",))
        try:
            out = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Verdict(self.name, False, reasons=(f"{self.name} --version failed: {exc}",))
        first = out.splitlines()[0] if out else ""
        match = re.search(r"(\d+\.\d+(?:\.\d+)?\S*)", first)
        version = match.group(1) if match else first
        if os.geteuid() != 0:
            reasons.append("needs root to map the job onto an unprivileged uid range "
                           "(use the bwrap backend on non-root hosts)")
        if not userns_available():
            reasons.append("user namespaces are disabled (user.max_user_namespaces = 0)")
        if self.name == "crun" and "+SECCOMP" not in out:
            reasons.append("crun was built without seccomp")
        if self.name == "runc" and "libseccomp" not in out:
            reasons.append("runc was built without libseccomp")
        missing = missing_controllers(self._mode)
        if missing:
            reasons.append(f"cgroup controllers missing: {', '.join(missing)}")
        if self._mntns is not None:
            if not (shutil.which("unshare") and shutil.which("nsenter")):
                reasons.append("hybrid cgroups need unshare(1) and nsenter(1) for crun")
            else:
                notes.append("hybrid cgroups: runs in a private mount namespace without "
                             "/sys/fs/cgroup/unified")
        return Verdict(self.name, not reasons, version, tuple(reasons), tuple(notes))

    def require(self) -> None:
        """Raise :class:`SandboxUnavailable` unless :meth:`check` passes."""
        verdict = self.check()
        if not verdict.usable:
            raise SandboxUnavailable(
                f"sandbox backend {self.name} cannot run here: {'; '.join(verdict.reasons)}",
                hint="run `stockade doctor` to see which backends this host supports",
            )

    # -- lifecycle ------------------------------------------------------------------------
    def _cmd(self, *args: str, create: bool = False) -> list[str]:
        assert self.binary is not None
        # Only creating a container needs the private mount namespace: exec and delete work
        # from the recorded state (saves an nsenter per call).
        prefix = self._mntns.prefix() if self._mntns is not None and create else []
        # gVisor ignores the OCI seccomp profile unless told to apply it.
        flags = ["--oci-seccomp"] if self.name == "runsc" else []
        return [*prefix, self.binary, *flags, *args]

    def start(self, spec: SandboxSpec, bundle: Path) -> None:
        """Write ``config.json`` and start the container detached, its pid 1 running."""
        (bundle / "config.json").write_text(json.dumps(oci_config(spec)))
        log = bundle / "runtime.err"
        # The container's pid 1 inherits these descriptors: never a pipe we would wait on.
        with open(os.devnull, "rb") as devnull, open(log, "wb") as err:
            returncode = run_bounded(
                self._cmd("run", "--detach", "--pid-file", str(bundle / "pid"),
                          "--bundle", str(bundle), spec.sandbox_id, create=True),
                stdin=devnull, stdout=devnull, stderr=err, timeout=_RUNTIME_TIMEOUT_S,
            )
        if returncode == 0:
            self._wait_for_init_exec(spec, bundle)
            return
        if returncode != 0:
            detail = log.read_text(errors="replace").strip().splitlines()
            raise InfrastructureError(
                f"{self.name} could not create sandbox {spec.sandbox_id}: "
                f"{detail[-1] if detail else f'exit {returncode}'}",
                hint="run `stockade doctor`; the image root filesystem must have /workspace",
            )

    def _wait_for_init_exec(self, spec: SandboxSpec, bundle: Path) -> None:
        # "run --detach" can return before pid 1 has exec'd the image's init. Until then pid 1
        # runs the runtime's binary (crun shows it through a detached mount: /proc/<pid>/exe
        # reads "/"), already under the job's credentials and non-dumpable, its memory still
        # owned by the host's user namespace. `crun exec` joins the user namespace first, then
        # the kernel's ptrace-access check on pid 1 refuses the others: setns EPERM. So wait
        # until pid 1 runs the init program itself (same file), a fraction of a millisecond.
        pid = self.init_pid(spec, bundle)
        if pid is None:
            return
        init = self._init_identity(spec)
        runtime = None if init is not None else _identity(self.binary or self.name)
        deadline = time.monotonic() + _INIT_EXEC_WAIT_S
        while True:
            try:
                exe = os.stat(f"/proc/{pid}/exe")
            except OSError:
                return  # gone: the first step reports it
            if ((exe.st_dev, exe.st_ino) == init if init is not None
                    else (exe.st_dev, exe.st_ino) != runtime):
                return
            if time.monotonic() > deadline:
                return  # still not running: the first step's start check reports it
            time.sleep(0.0005)

    def _init_identity(self, spec: SandboxSpec) -> tuple[int, int] | None:
        """(device, inode) of the image's init program; None when its path leaves the root
        filesystem (an absolute symlink) or is missing."""
        key = (spec.rootfs, spec.argv[0])
        if key not in self._init_files:
            rootfs = os.path.realpath(spec.rootfs)
            path = os.path.realpath(os.path.join(rootfs, spec.argv[0].lstrip("/")))
            inside = path.startswith(rootfs + os.sep)
            self._init_files[key] = _identity(path) if inside else None
        return self._init_files[key]

    def step_launch(self, spec: SandboxSpec, bundle: Path, argv: list[str],
                    env: Mapping[str, str]) -> StepLaunch:
        """``<runtime> exec`` of ``argv``; the process JSON travels in a memfd."""
        if self.name == "runc":
            # runc exec copies the step's output through pipes of its own and waits until
            # every holder closes them, so a daemon keeping stdout open would hold the step
            # forever. Our pipes go in as fds 3 and 4 instead and become the step's 1 and 2.
            argv = ["/bin/sh", "-c", 'exec 1>&3 2>&4 3>&- 4>&-; exec "$@"', "sh", *argv]
        proc = process_config(spec, argv, env)
        fd = memfd_with(json.dumps(proc).encode(), "stockade-process")
        os.set_inheritable(fd, True)
        # The runtime writes the step's pid once its process exists: no file, no start.
        started = bundle / "step.pid" if self.name in _PID_FILE_ON_EXEC else None
        pid_file = ["--pid-file", str(started)] if started is not None else []
        if self.name == "runc":
            return StepLaunch(
                argv=["sh", "-c", 'exec 3>&1 4>&2 1>/dev/null; exec "$@"', "sh",
                      *self._cmd("exec", "--preserve-fds", "2", *pid_file, "--process",
                                 f"/proc/self/fd/{fd}", spec.sandbox_id)],
                pass_fds=(fd,), started_file=started,
            )
        return StepLaunch(
            argv=self._cmd("exec", *pid_file, "--process", f"/proc/self/fd/{fd}",
                           spec.sandbox_id),
            pass_fds=(fd,), started_file=started,
        )

    def init_pid(self, spec: SandboxSpec, bundle: Path) -> int | None:
        """Host pid of the container's pid 1, from the pid file the runtime wrote."""
        try:
            return int((bundle / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self, spec: SandboxSpec, bundle: Path) -> None:
        """SIGKILL pid 1: the kernel then kills every process of the pid namespace."""
        pid = self.init_pid(spec, bundle)
        if pid is not None:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                return

    def destroy(self, spec: SandboxSpec, bundle: Path) -> None:
        """Kill pid 1, wait for it to die, delete the container (its cgroup and state).

        Killing first and waiting on a pidfd is much faster than ``delete --force``, which
        polls; ``--force`` remains the fallback when the container is in any other state.
        """
        if self.binary is None:
            return
        pid = self.init_pid(spec, bundle)
        if pid is not None:
            _kill_and_wait(pid)
        for args in (["delete", spec.sandbox_id], ["delete", "--force", spec.sandbox_id]):
            code = run_bounded(self._cmd(*args), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=_RUNTIME_TIMEOUT_S)
            if code == 0:
                return

    def state_paths(self, spec: SandboxSpec) -> list[Path]:
        return [_STATE_ROOTS[self.name] / spec.sandbox_id]

    def mount_namespace_pid(self) -> int | None:
        """Pid of the private mount namespace helper, if one is in use (teardown checks it)."""
        return self._mntns.pid if self._mntns is not None else None

    def close(self) -> None:
        if self._mntns is not None:
            self._mntns.close()
