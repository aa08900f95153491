"""A step whose process never starts is the sandbox's failure (INFRA, retried), not the job's."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockade.sandbox.cgroups import SandboxCgroup, detect_mode
from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobSpec, Outcome, OutputLine, StepSpec
from stockade.sandbox.oci_runtime import OciRuntimeBackend
from stockade.sandbox.spec import SandboxSpec
from stockade.sandbox.steps import StepRunner

pytestmark = pytest.mark.root


def system(lines: list[OutputLine]) -> list[str]:
    return [line.text for line in lines if line.stream == "system"]


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_exec_into_a_gone_container_is_infra_after_retries(
    runtime: str, make_spec: Callable[..., SandboxSpec], tmp_path: Path
) -> None:
    spec = make_spec(sandbox_id="stockade-test-gone-0000")  # no such container
    lines: list[OutputLine] = []
    runner = StepRunner(OciRuntimeBackend(runtime), spec, tmp_path,
                        cgroup=SandboxCgroup(detect_mode(), spec.cgroups_path),
                        on_output=lines.append, cancel=None)
    result, why = runner.run(0, StepSpec("say", "echo hi"), {}, float("inf"))
    assert result.outcome is Outcome.INFRA
    assert result.exit_code is None  # the step never ran: it has no exit code
    assert "could not start the step's process (3 attempts" in why
    assert sum("retrying" in text for text in system(lines)) == 2
    assert not (tmp_path / "step.pid").exists()


def test_a_job_whose_step_cannot_start_is_infra_and_torn_down(
    image_store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work_root = tmp_path / "work"
    tmp_path.chmod(0o711)
    ex = Executor(image_store, work_root=work_root)
    backend: Any = ex._backend
    real_launch = backend.step_launch

    def into_a_gone_container(spec: SandboxSpec, *args: Any) -> Any:
        return real_launch(dataclasses.replace(spec, sandbox_id=spec.sandbox_id + "-gone"), *args)

    monkeypatch.setattr(backend, "step_launch", into_a_gone_container)
    lines: list[OutputLine] = []
    try:
        result = ex.run_job(JobSpec(job_id="nostart", image="default",
                                    steps=(StepSpec("say", "echo hi"), StepSpec("never", "true"))),
                            None, lines.append)
    finally:
        ex.close()
    assert result.outcome is Outcome.INFRA
    assert [s.outcome for s in result.steps] == [Outcome.INFRA]  # the job stopped there
    assert "could not start the step's process" in result.detail
    assert ex.leftover_alarms == 0


def test_start_returns_only_once_pid_1_runs_the_images_init(
    make_spec: Callable[..., SandboxSpec], tmp_path: Path
) -> None:
    # Until pid 1 has exec'd its init, `exec` into the sandbox fails (setns EPERM). Here pid 1
    # is a process that runs another program for a while before exec'ing the image's init.
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2("/bin/sleep", rootfs / "bin/init")  # a file of its own, as in an image
    spec = make_spec(rootfs=rootfs, argv=("/bin/init", "5"))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    delay = 0.3
    pid1 = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep({delay}); "
                             f"os.execv({str(rootfs / 'bin/init')!r}, ['init', '5'])"])
    try:
        (bundle / "pid").write_text(str(pid1.pid))
        began = time.monotonic()
        OciRuntimeBackend("crun")._wait_for_init_exec(spec, bundle)
        assert time.monotonic() - began >= delay * 0.8
        assert os.path.samefile(f"/proc/{pid1.pid}/exe", rootfs / "bin/init")
    finally:
        pid1.kill()
        pid1.wait()
