"""The executor: one fresh sandbox per job, its steps in order, then teardown and proof.

    executor = Executor(image_store, work_root=Path("/var/lib/stockade/work"))
    result = executor.run_job(job, checkout_dir, on_output)

Per job, under ``work_root/<sandbox id>/`` (0711, root):

    bundle/      runtime scratch (config.json, pid file, runtime errors), 0700
    workspace/   tmpfs of ``disk_bytes``, owned by the job's mapped uid -> /workspace

After the job, the sandbox is destroyed, the workspace unmounted and the job directory removed;
then :func:`stockade.sandbox.teardown.find_leftovers` must find nothing. If it finds anything,
the executor counts an alarm and refuses further jobs until :meth:`Executor.clear_alarm`.

With ``warm=True`` the executor prepares the next job's sandbox (same image and limits) while
the current job runs, so a job finds its sandbox created; see :mod:`stockade.sandbox.warm`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Hashable
from pathlib import Path
from typing import Any, cast

from stockade.errors import InfrastructureError, LeftoverAlarm, SandboxUnavailable
from stockade.sandbox.backend import Backend
from stockade.sandbox.backends import make_backend
from stockade.sandbox.cgroups import SandboxCgroup, detect_mode
from stockade.sandbox.init import init_argv
from stockade.sandbox.interface import (
    JobResult,
    JobSpec,
    NetworkAttachment,
    Outcome,
    OutputCallback,
    OutputLine,
    Resources,
    StepHooks,
    StepResult,
)
from stockade.sandbox.netns import JobNetns, create_job_netns, listen_in, namespace_handles
from stockade.sandbox.seccomp import default_profile
from stockade.sandbox.spec import Limits, SandboxSpec
from stockade.sandbox.steps import StepRunner
from stockade.sandbox.teardown import SandboxTrace, find_leftovers, namespaces_of
from stockade.sandbox.warm import Box, WarmPool
from stockade.sandbox.workspace import (
    create_workspace,
    ensure_shared_mount,
    fill_workspace,
    remove_workspace,
    umount,
)

log = logging.getLogger(__name__)

_TEARDOWN_SETTLE_S = 3.0  # killed processes take a moment to be reaped by the kernel
_MAX_NOFILE = 16384


def _sandbox_id(job_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", job_id)[:40].strip(".-") or "job"
    return f"{safe}-{secrets.token_hex(4)}"


def _check_workspace_reached(workspace: Path, pid1: int) -> None:
    # Fail closed if /workspace in the sandbox is not the size-bounded tmpfs we mounted (it
    # would be the bare directory beneath: unbounded, on the host's disk).
    inside = Path(f"/proc/{pid1}/root/workspace").stat().st_dev
    if inside != workspace.stat().st_dev:
        raise InfrastructureError("the workspace mount did not reach the sandbox",
                                  hint="the work root must be a shared mount point")


def _file_identity(rootfs: Path, inside: str) -> tuple[int, int] | None:
    """(device, inode) of a file of the image, following its links inside the root only."""
    root = os.path.realpath(rootfs)
    path = os.path.realpath(os.path.join(root, inside))
    if not path.startswith(root + os.sep):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _is_reaper_sleep(pid: int, pid1: int | None, sleep: tuple[int, int] | None) -> bool:
    # The shell reaper (stockade.sandbox.init) waits on a `sleep` child of its own. It is known
    # by its parent and by the file it runs (the image's /bin/sleep, which a job cannot change),
    # never by its name, which a job could fake.
    if pid1 is None or sleep is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        exe = os.stat(f"/proc/{pid}/exe")
    except (OSError, ValueError, IndexError):
        return False
    return ppid == pid1 and (exe.st_dev, exe.st_ino) == sleep


def _release(backend: Backend, work_root: Path, own_bind: list[bool]) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        close()
    # Unbind only an idle work root: another executor (another process) may be using it, and
    # a job started after this check still fails closed if its workspace does not propagate.
    if own_bind[0] and work_root.is_dir() and not any(work_root.iterdir()):
        umount(work_root, lazy=True)
        own_bind[0] = False


class Executor:
    """Runs jobs, one disposable sandbox each; implements ``JobExecutor``."""

    def __init__(self, image_store: Any, *, work_root: Path, backend: str = "crun",
                 maximums: Resources | None = None, warm: bool = False) -> None:
        self._store = image_store
        self._work_root = work_root
        self._maximums = maximums
        self.backend_name = backend
        self._backend: Backend = make_backend(backend)
        require = getattr(self._backend, "require", None)
        if require is not None:
            require()  # refuse to exist rather than run jobs with fewer guarantees
        self._cgroup_mode = detect_mode()
        self._lock = threading.Lock()
        self._alarm: tuple[str, ...] = ()
        self._checked_roots: set[Path] = set()
        self.leftover_alarms = 0
        work_root.mkdir(parents=True, exist_ok=True)
        work_root.chmod(0o711)
        self._work_root = work_root = work_root.resolve()
        # Runtimes in a private mount namespace see host mounts only through propagation.
        self._needs_shared = getattr(self._backend, "mount_namespace_pid", None) is not None
        self._own_bind = [False]  # shared with the finalizer: did we bind the work root?
        self._ensure_shared()
        # Released by close(), or when the executor is collected or the process exits.
        self._release = weakref.finalize(self, _release, self._backend, work_root,
                                         self._own_bind)
        # One sandbox prepared ahead for the next job of the same image and limits (warm.py).
        self._warm = WarmPool(self._blank_for, self._start, self._discard) if warm else None

    # -- alarm ----------------------------------------------------------------------------
    @property
    def alarm(self) -> tuple[str, ...]:
        """The leftovers of the last failed teardown (empty when none is pending)."""
        return self._alarm

    def clear_alarm(self) -> None:
        """An operator has looked at the leftovers: accept jobs again."""
        with self._lock:
            if self._alarm:
                log.warning("leftover alarm cleared by operator: %s", "; ".join(self._alarm))
            self._alarm = ()

    def close(self) -> None:
        """Tear down a prepared sandbox, then release the backend's helpers (e.g. the private
        mount namespace)."""
        if self._warm is not None:
            self._warm.close()
        self._release()

    # -- jobs -----------------------------------------------------------------------------
    def run_job(self, job: JobSpec, workspace_source: Path | None, on_output: OutputCallback,
                cancel: threading.Event | None = None, *,
                network: NetworkAttachment | None = None,
                hooks: StepHooks | None = None) -> JobResult:
        """Run ``job`` in a fresh sandbox and return its result; see the module docstring."""
        with self._lock:
            if self._alarm:
                raise LeftoverAlarm(
                    f"a previous job left something behind: {'; '.join(self._alarm)}",
                    hint="inspect the host, remove the leftovers, then call clear_alarm()",
                )
        started = time.monotonic()
        res = job.resources.capped(self._maximums) if self._maximums else job.resources
        deadline = started + res.timeout_s
        record = self._store.resolve(job.image)
        rootfs = Path(self._store.rootfs(record.digest)).resolve()  # runtimes refuse symlinks
        limits = Limits(memory_bytes=res.memory_bytes, pids=res.pids, cpus=res.cpus,
                        tmp_bytes=res.disk_bytes, disk_bytes=res.disk_bytes,
                        nofile=min(_MAX_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        key = (rootfs, limits)
        box = self._warm.take(key) if self._warm is not None else None
        cold = box is None
        if box is None:
            box = self._blank(key, _sandbox_id(job.job_id))
        else:
            log.info("job %s runs in prepared sandbox %s", job.job_id, box.spec.sandbox_id)
        netns: JobNetns | None = None
        steps: list[StepResult] = []
        job_env = dict(job.env)
        try:
            mode = self._backend.network_mode
            if network is not None and mode not in ("join", "enter"):
                raise SandboxUnavailable(
                    f"the {self.backend_name} backend cannot serve a job's network here",
                    hint="use the crun, runc or bwrap backend for jobs with egress",
                )
            if cold:
                self._start(box)
            if self._warm is not None:
                self._warm.refill(key)  # the next job's sandbox, built while this one runs
            fill_workspace(box.spec.workspace, box.spec.host_uid, box.spec.host_gid,
                           workspace_source)
            if network is not None:
                if mode == "join":
                    netns = create_job_netns()
                    box.spec = dataclasses.replace(box.spec, netns_path=netns.path)
                elif box.pid1 is None:
                    raise InfrastructureError("no sandbox process to open the listener in")
                else:
                    netns = listen_in(box.pid1)
                job_env.update(network.attach(netns.listener, netns.port))
            spec, cgroup, pid1 = box.spec, box.cgroup, box.pid1
            runner = StepRunner(self._backend, spec, box.bundle, cgroup=cgroup,
                                on_output=on_output, cancel=cancel)
            outcome, detail = Outcome.SUCCESS, ""
            for index, step in enumerate(job.steps):
                private = dict(hooks.before_step(index, step)) if hooks is not None else {}
                if private:
                    self._stop_strays(cgroup, pid1, rootfs)  # nothing else may read them
                try:
                    result, why = runner.run(index, step, {**job_env, **private}, deadline)
                finally:
                    if private:
                        self._stop_strays(cgroup, pid1, rootfs)
                    if hooks is not None:
                        hooks.after_step(index, step)
                steps.append(result)
                if result.outcome is Outcome.SUCCESS:
                    continue
                stops = result.outcome in (Outcome.TIMEOUT, Outcome.CANCELLED, Outcome.INFRA)
                if step.continue_on_error and not stops:
                    on_output(OutputLine(index, "system", f"continuing after: {why}", time.time()))
                    continue
                outcome, detail = result.outcome, why
                break
        except (InfrastructureError, OSError, subprocess.SubprocessError) as exc:
            # The sandbox could not be built or driven: the job did not fail, the host did.
            log.warning("job %s: sandbox infrastructure failure: %s", job.job_id, exc)
            outcome, detail = Outcome.INFRA, str(exc)
        finally:
            leftovers = self._teardown(box, network, netns)
            if leftovers:  # recorded even when an unexpected error is on its way out
                self._raise_alarm(job.job_id, leftovers)
        if leftovers:
            detail = (detail + "; " if detail else "") + "teardown left: " + "; ".join(leftovers)
        return JobResult(outcome, tuple(steps), time.monotonic() - started, detail)

    # -- internals ------------------------------------------------------------------------
    def _ensure_shared(self) -> None:
        # Per job, too: another executor sharing this work root may have unbound it.
        if self._needs_shared and ensure_shared_mount(self._work_root):
            self._own_bind[0] = True

    def _check_rootfs(self, rootfs: Path) -> None:
        # The runtime cannot create a mount point in a read-only root owned by an unmapped
        # uid, and the shared image cache must not be changed: the image must carry it.
        if rootfs in self._checked_roots:
            return
        if not (rootfs / "workspace").is_dir():
            raise InfrastructureError(
                f"image root filesystem {rootfs} has no /workspace mount point",
                hint="rebuild the image with `stockade image build` (it adds /workspace)",
            )
        self._checked_roots.add(rootfs)

    def _mount_ns_pids(self) -> tuple[int, ...]:
        pid_of = getattr(self._backend, "mount_namespace_pid", None)
        pid = pid_of() if pid_of is not None else None
        return (pid,) if pid else ()

    def _blank_for(self, key: Hashable) -> Box:
        return self._blank(key, _sandbox_id("warm"))

    def _blank(self, key: Hashable, sid: str) -> Box:
        """A box for ``key`` (image root, limits) with nothing created yet (pure)."""
        rootfs, limits = cast(tuple[Path, Limits], key)
        job_dir = self._work_root / sid
        spec = SandboxSpec(sandbox_id=sid, rootfs=rootfs, workspace=job_dir / "workspace",
                           limits=limits, seccomp=default_profile(), argv=init_argv(rootfs))
        cgroup = SandboxCgroup(self._cgroup_mode, spec.cgroups_path)
        trace = SandboxTrace(job_dir, cgroup, None, None, tuple(self._backend.state_paths(spec)),
                             self._mount_ns_pids())
        return Box(spec, job_dir, job_dir / "bundle", cgroup, trace)

    def _start(self, box: Box) -> None:
        """Create the box's directories and empty workspace, and start its sandbox."""
        spec = box.spec
        self._check_rootfs(spec.rootfs)
        self._ensure_shared()
        box.job_dir.mkdir(mode=0o711)
        box.bundle.mkdir(mode=0o700)
        create_workspace(spec.workspace, spec.limits.disk_bytes, spec.host_uid, spec.host_gid,
                         None)
        self._backend.start(spec, box.bundle)
        box.started = True
        box.pid1 = self._backend.init_pid(spec, box.bundle)
        if box.pid1 is not None:
            _check_workspace_reached(spec.workspace, box.pid1)
            pid_ns, net_ns = namespaces_of(box.pid1)
            box.trace = dataclasses.replace(box.trace, pid_ns=pid_ns, net_ns=net_ns)

    def _discard(self, box: Box) -> None:
        """Tear down a prepared box no job took (the same proof as after a job)."""
        leftovers = self._teardown(box, None, None)
        if leftovers:
            self._raise_alarm(f"(prepared sandbox {box.spec.sandbox_id})", leftovers)

    def _teardown(self, box: Box, network: NetworkAttachment | None,
                  netns: JobNetns | None) -> list[str]:
        spec, bundle, trace = box.spec, box.bundle, box.trace
        try:
            self._backend.destroy(spec, bundle)
        except Exception as exc:  # teardown must go on; the proof below reports what is left
            log.warning("sandbox %s: destroy failed: %s", spec.sandbox_id, exc)
        if network is not None:
            try:
                network.detach()
            except Exception as exc:
                log.warning("sandbox %s: network detach failed: %s", spec.sandbox_id, exc)
        if netns is not None:
            netns.close()
        settle_until = time.monotonic() + _TEARDOWN_SETTLE_S
        while True:
            trace.cgroup.remove()
            remove_workspace(spec.workspace)
            shutil.rmtree(trace.job_dir, ignore_errors=True)
            leftovers = find_leftovers(trace)
            if netns is not None:
                leftovers += [f"network namespace {netns.inode} still held by fd {fd}"
                              for fd in namespace_handles(netns.inode)]
            if not leftovers or time.monotonic() > settle_until:
                return leftovers
            time.sleep(0.01)

    @staticmethod
    def _stop_strays(cgroup: SandboxCgroup, pid1: int | None, rootfs: Path) -> None:
        """SIGKILL every process of the sandbox but its pid 1 (the reaper) and the reaper's
        own ``sleep``, and wait until they are gone."""
        reaper_sleep = _file_identity(rootfs, "bin/sleep")
        deadline = time.monotonic() + _TEARDOWN_SETTLE_S
        while time.monotonic() < deadline:
            strays = [pid for pid in cgroup.pids()
                      if pid != pid1 and not _is_reaper_sleep(pid, pid1, reaper_sleep)]
            if not strays:
                return
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)
        raise InfrastructureError("processes of an earlier step would not die",
                                  hint="a step with secrets runs alone in its sandbox")

    def _raise_alarm(self, job_id: str, leftovers: list[str]) -> None:
        with self._lock:
            self.leftover_alarms += 1
            self._alarm = tuple(leftovers)
        log.error("job %s: sandbox teardown left %s; refusing further jobs until cleared",
                  job_id, "; ".join(leftovers))
