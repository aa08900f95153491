"""The executor with real sandboxes: steps, environments, output, outcomes and teardown."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockade.errors import InvalidInput, LeftoverAlarm, SandboxUnavailable
from stockade.sandbox.cgroups import SandboxCgroup, detect_mode
from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobResult, JobSpec, Outcome, OutputLine, Resources, StepSpec

pytestmark = pytest.mark.root
MiB = 1024**2


@pytest.fixture(scope="module")
def work_root() -> Iterator[Path]:
    # Not under pytest's 0700 tmp dir: bwrap runs as the job's unprivileged host uid,
    # which must be able to reach the workspace.
    root = Path(tempfile.mkdtemp(prefix="stockade-work-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def executor(image_store: Any, work_root: Path) -> Iterator[Executor]:
    ex = Executor(image_store, work_root=work_root)
    yield ex
    ex.close()


def run(ex: Executor, *steps: StepSpec, source: Path | None = None,
        cancel: threading.Event | None = None, **job: Any) -> tuple[JobResult, list[OutputLine]]:
    lines: list[OutputLine] = []
    spec = JobSpec(job_id=job.pop("job_id", "test"), image="default", steps=steps, **job)
    return ex.run_job(spec, source, lines.append, cancel), lines


def text(lines: list[OutputLine], stream: str = "stdout") -> list[str]:
    return [line.text for line in lines if line.stream == stream]


def test_steps_run_in_order_in_one_workspace_with_their_own_environment(executor: Executor) -> None:
    result, lines = run(
        executor,
        StepSpec("make", "echo built > out.txt; echo one; echo \"secret=${SECRET:-none}\"",
                 env={"SECRET": "s3cr3t"}),
        StepSpec("use", "cat out.txt; echo \"secret=${SECRET:-none} job=$JOBVAR\"; echo warn >&2"),
        env={"JOBVAR": "j"},
    )
    assert result.outcome is Outcome.SUCCESS, result
    assert [s.name for s in result.steps] == ["make", "use"]
    assert all(s.exit_code == 0 and s.duration_s > 0 for s in result.steps)
    assert text(lines) == ["one", "secret=s3cr3t", "built", "secret=none job=j"]
    assert text(lines, "stderr") == ["warn"]
    assert [line.step for line in lines if line.stream == "stdout"] == [0, 0, 1, 1]
    stamps = [line.ts for line in lines]
    assert stamps == sorted(stamps)


def test_a_failed_step_stops_the_job(executor: Executor) -> None:
    result, lines = run(executor, StepSpec("ok", "true"), StepSpec("bad", "echo x; exit 7"),
                        StepSpec("never", "echo never"))
    assert result.outcome is Outcome.FAILED
    assert [(s.name, s.exit_code) for s in result.steps] == [("ok", 0), ("bad", 7)]
    assert "never" not in text(lines)
    assert "7" in result.detail


def test_continue_on_error_lets_the_job_go_on(executor: Executor) -> None:
    result, lines = run(executor, StepSpec("flaky", "exit 3", continue_on_error=True),
                        StepSpec("after", "echo after"))
    assert result.outcome is Outcome.SUCCESS
    assert [s.outcome for s in result.steps] == [Outcome.FAILED, Outcome.SUCCESS]
    assert text(lines) == ["after"]


def test_step_timeout_is_reported_as_timeout(executor: Executor) -> None:
    result, _ = run(executor, StepSpec("slow", "sleep 60", timeout_s=0.5), StepSpec("n", "true"))
    assert result.outcome is Outcome.TIMEOUT
    assert len(result.steps) == 1 and result.duration_s < 30


def test_job_timeout_covers_all_steps(executor: Executor) -> None:
    result, _ = run(executor, StepSpec("a", "sleep 0.2"), StepSpec("b", "sleep 60"),
                    resources=Resources(timeout_s=1.0))
    assert result.outcome is Outcome.TIMEOUT
    assert [s.outcome for s in result.steps] == [Outcome.SUCCESS, Outcome.TIMEOUT]


def test_cancel_stops_the_job_as_cancelled(executor: Executor) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    result, _ = run(executor, StepSpec("long", "sleep 60"), cancel=cancel)
    assert result.outcome is Outcome.CANCELLED
    assert time.monotonic() - started < 30


def test_workspace_source_is_copied_with_git_and_owned_by_the_job(executor: Executor,
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / ".git").mkdir(parents=True)
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (src / "hello.sh").write_text("echo hello from the repo\n")
    (src / "hello.sh").chmod(0o755)
    result, lines = run(executor, StepSpec("s", "./hello.sh; cat .git/HEAD; touch new; "
                                                "stat -c %u hello.sh"), source=src)
    assert result.outcome is Outcome.SUCCESS, lines
    assert text(lines) == ["hello from the repo", "ref: refs/heads/main", "1000"]
    assert not (src / "new").exists()  # the source is copied, never written


def test_long_lines_are_chunked_and_a_last_partial_line_arrives(executor: Executor) -> None:
    result, lines = run(executor, StepSpec("s", "head -c 40000 /dev/zero | tr '\\0' x; echo; "
                                                "printf tail"))
    assert result.outcome is Outcome.SUCCESS
    out = text(lines)
    assert "".join(out[:-1]) == "x" * 40000 and max(len(t) for t in out) <= 16384
    assert out[-1] == "tail"


def test_resources_are_capped_by_the_callers_maximums(image_store: Any, work_root: Path) -> None:
    ex = Executor(image_store, work_root=work_root,
                  maximums=Resources(memory_bytes=96 * MiB, pids=64))
    try:
        result, lines = run(ex, StepSpec("s", "cat /sys/fs/cgroup/pids/pids.max "
                                              "/sys/fs/cgroup/memory/memory.limit_in_bytes "
                                              "2>/dev/null || cat /sys/fs/cgroup/pids.max "
                                              "/sys/fs/cgroup/memory.max"),
                            resources=Resources(memory_bytes=2048 * MiB, pids=4096))
    finally:
        ex.close()
    assert result.outcome is Outcome.SUCCESS, lines
    assert text(lines) == ["64", str(96 * MiB)]


def test_teardown_leaves_nothing_and_a_leftover_raises_an_alarm(executor: Executor,
                                                                work_root: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run(executor, StepSpec("s", "setsid nohup sleep 600 >/dev/null 2>&1 & true"))
    assert result.outcome is Outcome.SUCCESS and executor.leftover_alarms == 0
    assert list(work_root.iterdir()) == []
    # Now a runtime that fails to destroy the sandbox: the proof must notice.
    backend = executor._backend
    real_destroy = backend.destroy
    kept: list[Any] = []
    monkeypatch.setattr(backend, "destroy", lambda spec, bundle: kept.append(spec))
    result, _ = run(executor, StepSpec("s", "sleep 600 & true"))
    monkeypatch.undo()
    try:
        assert executor.leftover_alarms == 1
        assert "teardown left" in result.detail
        assert any("cgroup" in item for item in executor.alarm)
        with pytest.raises(LeftoverAlarm):
            run(executor, StepSpec("s", "true"))
    finally:
        real_destroy(kept[0], work_root / kept[0].sandbox_id / "bundle")
        SandboxCgroup(detect_mode(), kept[0].cgroups_path).remove()
    executor.clear_alarm()
    result, _ = run(executor, StepSpec("s", "true"))
    assert result.outcome is Outcome.SUCCESS
    assert not SandboxCgroup(detect_mode(), kept[0].cgroups_path).existing()
    assert not os.path.exists(f"/run/crun/{kept[0].sandbox_id}")


@pytest.mark.parametrize("backend", ["runc", "bwrap"])
def test_other_backends_run_steps_with_the_same_guarantees(image_store: Any, work_root: Path,
                                                          backend: str) -> None:
    ex = Executor(image_store, work_root=work_root, backend=backend)
    try:
        result, lines = run(ex, StepSpec("a", "echo x > f; id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
                                         env={"A": "1"}),
                            StepSpec("b", "cat f; echo ${A:-unset}; touch /etc/x 2>/dev/null || echo ro"))
    finally:
        ex.close()
    assert result.outcome is Outcome.SUCCESS, lines
    out = [" ".join(t.split()) for t in text(lines)]
    assert out == ["1000", "CapEff: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2",
                   "x", "unset", "ro"]
    assert list(work_root.iterdir()) == []


def test_a_backend_that_cannot_give_every_guarantee_refuses_to_start(image_store: Any,
                                                                     work_root: Path) -> None:
    if shutil.which("runsc"):
        pytest.skip("runsc is installed here; this checks the refusal when it is not")
    with pytest.raises(SandboxUnavailable) as exc:
        Executor(image_store, work_root=work_root, backend="runsc")
    assert "runsc is not installed" in exc.value.message
    with pytest.raises(InvalidInput):
        Executor(image_store, work_root=work_root, backend="docker")
