"""Runs one step in a started sandbox: spawn, stream its output, enforce deadlines, classify.

The outcome of a step is decided from what the kernel says, not from guesses: the memory
cgroup's OOM-kill counter, the pids cgroup's "max" counter, a full workspace or /tmp, the
wall-clock deadline, a cancel request, else the step's exit code.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from stockade.errors import InfrastructureError
from stockade.sandbox.backend import Backend
from stockade.sandbox.cgroups import CgroupEvents, SandboxCgroup
from stockade.sandbox.interface import Outcome, OutputCallback, OutputLine, StepResult, StepSpec
from stockade.sandbox.output import LineSplitter
from stockade.sandbox.spec import SandboxSpec

log = logging.getLogger(__name__)

_POLL_S = 0.1  # how often a running step notices cancel
_DRAIN_S = 0.2  # output still arriving after the step exited (e.g. from a daemon) is cut here
_KILL_GRACE_S = 5.0
_FULL_BYTES = 64 * 1024  # a filesystem with less than this free counts as full
_START_ATTEMPTS = 3  # a step whose process never started is started again
_START_RETRY_S = 0.02
SHELL = ("/bin/bash", "-e", "-o", "pipefail", "-c")


def _free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class StepRunner:
    """Runs the steps of one sandbox, one at a time."""

    def __init__(self, backend: Backend, spec: SandboxSpec, bundle: Path, *,
                 cgroup: SandboxCgroup, on_output: OutputCallback,
                 cancel: threading.Event | None) -> None:
        self._backend = backend
        self._spec = spec
        self._bundle = bundle
        self._cgroup = cgroup
        self._emit = on_output
        self._cancel = cancel
        self._killed = False

    def run(self, index: int, step: StepSpec, job_env: Mapping[str, str],
            job_deadline: float) -> tuple[StepResult, str]:
        """Run ``step``; returns its result and one line saying why it did not succeed."""
        if self._killed:
            raise InfrastructureError("the sandbox was already killed", hint="a bug: report it")
        started = time.monotonic()
        deadline = job_deadline
        if step.timeout_s is not None:
            deadline = min(deadline, started + step.timeout_s)
        before = self._cgroup.events()
        for attempt in range(1, _START_ATTEMPTS + 1):
            code, stopped, started_ok = self._attempt(index, step, job_env, deadline)
            if started_ok or stopped or attempt == _START_ATTEMPTS:
                break
            # The step never ran, so starting it again is safe.
            log.warning("sandbox %s: step %r did not start (runtime exit %d); retrying",
                        self._spec.sandbox_id, step.name, code)
            self._emit(OutputLine(index, "system", f"step {step.name!r}: the sandbox could not "
                                  f"start its process (runtime exit {code}); retrying",
                                  time.time()))
            time.sleep(_START_RETRY_S * attempt)
        duration = time.monotonic() - started
        if not started_ok and not stopped and not self._limit_hit(before):
            why = (f"the sandbox could not start the step's process "
                   f"({_START_ATTEMPTS} attempts, runtime exit {code})")
            self._emit(OutputLine(index, "system", f"step {step.name!r}: {why}", time.time()))
            return StepResult(step.name, Outcome.INFRA, None, duration), why
        outcome, why = self._classify(step, code, stopped, before)
        if outcome is not Outcome.SUCCESS:
            self._emit(OutputLine(index, "system", f"step {step.name!r}: {why}", time.time()))
        return StepResult(step.name, outcome, code, duration), why

    def _attempt(self, index: int, step: StepSpec, job_env: Mapping[str, str],
                 deadline: float) -> tuple[int, str, bool]:
        """Spawn the step once and stream it to the end: (exit code, how it was stopped,
        whether its process started at all)."""
        launch = self._backend.step_launch(self._spec, self._bundle, [*SHELL, step.run],
                                           {**job_env, **step.env})
        if launch.started_file is not None:
            launch.started_file.unlink(missing_ok=True)
        try:
            proc = subprocess.Popen(
                launch.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, pass_fds=launch.pass_fds,
                env=dict(launch.env) if launch.env is not None else None,
            )
        except OSError as exc:
            raise InfrastructureError(f"cannot start step {step.name!r}: {exc}",
                                      hint="run `stockade doctor`") from exc
        finally:
            for fd in launch.pass_fds:
                os.close(fd)
        stopped = self._pump(proc, index, deadline)
        code = proc.wait()
        started_ok = launch.started_file is None or launch.started_file.exists()
        return code, stopped, started_ok

    def _limit_hit(self, before: CgroupEvents) -> bool:
        # A step that cannot start because earlier steps filled the pids or memory limit is
        # the job's own doing, not the sandbox's: classified as such, never retried elsewhere.
        after = self._cgroup.events()
        return (after.oom_kills > before.oom_kills
                or after.pids_max_hits > before.pids_max_hits)

    def _pump(self, proc: subprocess.Popen[bytes], index: int, deadline: float) -> str:
        """Stream output until the step ends; returns "", "timeout" or "cancelled"."""
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        splitters = {}
        for f, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            os.set_blocking(f.fileno(), False)
            sel.register(f, selectors.EVENT_READ, name)
            splitters[name] = LineSplitter(index, name, self._emit)
        stopped = ""
        exited_at: float | None = None
        hard_stop: float | None = None
        try:
            while sel.get_map():
                now = time.monotonic()
                if not stopped:
                    if self._cancel is not None and self._cancel.is_set():
                        stopped = "cancelled"
                    elif now >= deadline:
                        stopped = "timeout"
                    if stopped:
                        self._kill_all()
                        hard_stop = now + _KILL_GRACE_S
                if hard_stop is not None and now >= hard_stop:
                    proc.kill()  # the runtime's exec process itself hangs: stop waiting
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > _DRAIN_S:
                    break  # something the step left behind holds the pipes open
                timeout = _POLL_S if exited_at is None else 0.02
                if not stopped:
                    timeout = max(0.0, min(timeout, deadline - now))
                for key, _ in sel.select(timeout):
                    data = os.read(key.fd, 65536)
                    if data:
                        splitters[key.data].feed(data)
                    else:
                        sel.unregister(key.fileobj)
        finally:
            for s in splitters.values():
                s.close()
            sel.close()
            proc.stdout.close()
            proc.stderr.close()
        return stopped

    def _kill_all(self) -> None:
        self._killed = True
        self._backend.kill(self._spec, self._bundle)

    def _classify(self, step: StepSpec, code: int, stopped: str,
                  before: CgroupEvents) -> tuple[Outcome, str]:
        after = self._cgroup.events()
        if stopped == "cancelled":
            return Outcome.CANCELLED, "cancelled"
        if after.oom_kills > before.oom_kills and (code != 0 or stopped):
            limit = self._spec.limits.memory_bytes
            return Outcome.OOM, f"killed by the memory limit ({limit} bytes)"
        if after.pids_max_hits > before.pids_max_hits and (code != 0 or stopped):
            return Outcome.LIMIT, f"hit the pids limit ({self._spec.limits.pids})"
        if stopped == "timeout":
            return Outcome.TIMEOUT, "timed out"
        if code != 0:
            full = self._full_filesystem()
            if full:
                return Outcome.LIMIT, f"{full} is full (exit {code})"
            return Outcome.FAILED, f"exited with {code}"
        return Outcome.SUCCESS, ""

    def _full_filesystem(self) -> str:
        pid1 = self._backend.init_pid(self._spec, self._bundle)
        places = [("the workspace", self._spec.workspace)]
        if pid1 is not None:
            places.append(("/tmp", Path(f"/proc/{pid1}/root/tmp")))
        for label, path in places:
            free = _free_bytes(path)
            if free is not None and free < _FULL_BYTES:
                return label
        return ""
