"""The warm pool: the next job's sandbox is prepared while a job runs, used once, and every
prepared sandbox is torn down with the same proof as any other (root)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobSpec, OutputLine, Resources, StepSpec

pytestmark = pytest.mark.root


@pytest.fixture
def warm(tmp_path: Path, image_store: Any) -> Iterator[Executor]:
    executor = Executor(image_store, work_root=tmp_path / "work", warm=True)
    yield executor
    executor.close()


def _job(job_id: str, script: str, memory: int = 512 * 1024**2) -> JobSpec:
    return JobSpec(job_id=job_id, image="default", steps=(StepSpec("s", script),),
                   resources=Resources(memory_bytes=memory))


def _run(executor: Executor, job: JobSpec, source: Path | None = None) -> list[str]:
    out: list[OutputLine] = []
    result = executor.run_job(job, source, out.append)
    assert result.outcome.value == "success", [line.text for line in out]
    return [line.text for line in out if line.step >= 0]


def test_a_prepared_sandbox_serves_the_next_job_and_nothing_crosses(
        warm: Executor, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "hello.txt").write_text("from the checkout\n")
    first = _run(warm, _job("one", "cat hello.txt; echo left > /tmp/mark; echo left > mark; "
                                   "hostname; cat /proc/self/cgroup | tail -1"), source)
    second = _run(warm, _job("two", "cat hello.txt; ls /tmp; ls; test ! -e /tmp/mark && "
                                    "test ! -e mark && echo clean"), source)
    assert warm._warm is not None and warm._warm.hits == 1 and warm._warm.misses == 1
    assert first[0] == "from the checkout" and second[0] == "from the checkout"
    assert "clean" in second and "mark" not in second
    assert warm.alarm == ()


def test_a_job_of_other_limits_is_created_cold_and_the_prepared_one_is_discarded(
        warm: Executor, tmp_path: Path) -> None:
    _run(warm, _job("a", "true"))
    _run(warm, _job("b", "true", memory=256 * 1024**2))
    assert warm._warm is not None and warm._warm.hits == 0 and warm._warm.misses == 2
    assert warm.alarm == ()


def test_closing_tears_the_prepared_sandbox_down(image_store: Any, tmp_path: Path) -> None:
    work = tmp_path / "work"
    executor = Executor(image_store, work_root=work, warm=True)
    _run(executor, _job("a", "true"))
    executor.close()
    assert list(work.iterdir()) == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(work) + "/" not in mounts
    assert not any(p.name.startswith("warm-") for p in Path("/run/crun").iterdir()) \
        if Path("/run/crun").is_dir() else True
    assert executor.alarm == ()
    assert os.path.isdir(work)
