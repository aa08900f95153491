"""Security tests: hostile commands in real sandboxes (root only; CI runs them as root).

``sandbox`` runs one job on a chosen backend and returns its result and output; executors are
shared per backend for the session and must end the session without a leftover alarm.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobResult, JobSpec, OutputLine, Resources, StepSpec


@dataclass(frozen=True)
class Ran:
    result: JobResult
    lines: tuple[OutputLine, ...]

    @property
    def stdout(self) -> str:
        return "\n".join(line.text for line in self.lines if line.stream == "stdout")

    @property
    def output(self) -> str:
        return "\n".join(line.text for line in self.lines)


Sandbox = Callable[..., Ran]


@pytest.fixture(scope="session")
def executors(image_store: Any) -> Iterator[dict[str, Executor]]:
    root = Path(tempfile.mkdtemp(prefix="stockade-sec-", dir="/tmp"))
    root.chmod(0o711)  # bwrap runs as the job uid, which must reach the work root
    made: dict[str, Executor] = {}

    class Lazy(dict[str, Executor]):
        def __missing__(self, backend: str) -> Executor:
            made[backend] = Executor(image_store, work_root=root / backend, backend=backend)
            self[backend] = made[backend]
            return made[backend]

    yield Lazy()
    alarms = {name: ex.alarm for name, ex in made.items() if ex.leftover_alarms}
    for ex in made.values():
        ex.close()
    shutil.rmtree(root, ignore_errors=True)
    assert not alarms, f"teardown leftovers during security tests: {alarms}"


@pytest.fixture
def sandbox(executors: dict[str, Executor]) -> Sandbox:
    """Run ``script`` (bash) as a one-step job; keyword args go to JobSpec/Resources."""

    def run(script: str, *, backend: str = "crun", source: Path | None = None,
            timeout_s: float = 60.0, **resources: Any) -> Ran:
        lines: list[OutputLine] = []
        job = JobSpec(job_id="hostile", image="default",
                      steps=(StepSpec("attack", script),),
                      resources=Resources(timeout_s=timeout_s, **resources))
        result = executors[backend].run_job(job, source, lines.append)
        assert executors[backend].leftover_alarms == 0, executors[backend].alarm
        return Ran(result, tuple(lines))

    return run


ALL_BACKENDS = pytest.mark.parametrize("backend", ["crun", "runc", "bwrap"])
