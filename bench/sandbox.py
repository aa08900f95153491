"""Sandbox benchmark: creation to first output, and the whole create-run-destroy cycle of `true`.

Measured for each Stockade backend (crun, runc, bwrap) through ``Executor.run_job``, beside the
bare process and ``podman run --rm --network none`` of the same image (podman is installed from
Debian by this setup when missing; if it cannot run here, the reason is printed instead).
Targets (issue 2): crun cycle median at most 60 ms, and at least 5x faster than podman.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import RUNS, Sample, console, fmt, print_table, time_runs

from stockade.config import load_settings
from stockade.errors import StockadeError
from stockade.images.oci import digest_tag
from stockade.images.store import ImageRecord, ImageStore

BACKENDS = tuple(
    name for name in os.environ.get("BENCH_BACKENDS", "crun,runc,bwrap").split(",") if name
)
CYCLE_TARGET_MS = 60.0
PODMAN_RATIO_TARGET = 5.0


@dataclass(frozen=True)
class Row:
    """One line of the table: both figures, or why they could not be measured."""

    label: str
    first_output: Sample | None = None
    cycle: Sample | None = None
    error: str = ""


def main() -> None:
    store = ImageStore(load_settings().images_dir)
    try:
        image = store.resolve("default")
    except StockadeError as exc:
        console.print(f"[red]{exc}[/]")
        return
    store.rootfs(image.digest)  # unpack outside the timings: every sandbox shares it
    console.print(f"image default {image.digest}, {RUNS} runs per figure")
    rows = [_bare()]
    rows += [_stockade(store, image, backend) for backend in BACKENDS]
    rows.append(_podman(store, image))
    _report(rows)


# -- what is measured ------------------------------------------------------------------------


def _bare() -> Row:
    def first_output() -> float:
        started = time.perf_counter()
        with subprocess.Popen(["echo", "ready"], stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            proc.stdout.readline()
            elapsed = time.perf_counter() - started
        return elapsed * 1000

    return Row(
        "bare process (subprocess)",
        _collect("bare first output", first_output),
        time_runs("bare true", lambda: subprocess.run(["true"], check=True)),
    )


def _stockade(store: ImageStore, image: ImageRecord, backend: str) -> Row:
    label = f"stockade {backend}"
    try:
        from stockade.sandbox.executor import Executor
        from stockade.sandbox.interface import JobSpec, Outcome, OutputLine, StepSpec
    except ImportError as exc:
        return Row(label, error=f"the sandbox executor is not available: {exc}")
    work = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-", dir=store.root.parent))
    try:
        executor = Executor(store, work_root=work, backend=backend)
    except Exception as exc:  # a backend that refuses this host says why; the bench goes on
        shutil.rmtree(work, ignore_errors=True)
        return Row(label, error=f"{type(exc).__name__}: {exc}")
    counter = iter(range(1_000_000))

    def job(command: str) -> JobSpec:
        return JobSpec(
            job_id=f"bench-{backend}-{next(counter)}",
            image=image.digest,
            steps=(StepSpec(name="step", run=command),),
        )

    def first_output() -> float:
        seen: list[float] = []

        def on_output(line: OutputLine) -> None:
            if not seen and line.stream == "stdout" and line.text == "ready":
                seen.append(time.perf_counter())

        started = time.perf_counter()
        result = executor.run_job(job("echo ready"), None, on_output)
        if result.outcome != Outcome.SUCCESS or not seen:
            raise RuntimeError(f"{result.outcome}: {result.detail}")
        return (seen[0] - started) * 1000

    def cycle() -> None:
        result = executor.run_job(job("true"), None, lambda _line: None)
        if result.outcome != Outcome.SUCCESS:
            raise RuntimeError(f"{result.outcome}: {result.detail}")

    try:
        return Row(label, _collect(f"{backend} first output", first_output),
                   time_runs(f"{backend} cycle", cycle))
    except Exception as exc:  # report it in the table and go on with the other backends
        return Row(label, error=f"a job failed: {type(exc).__name__}: {exc}")
    finally:
        executor.close()
        shutil.rmtree(work, ignore_errors=True)


def _podman(store: ImageStore, image: ImageRecord) -> Row:
    label = "podman run --rm --network none"
    problem = _install_podman()
    if problem:
        return Row(label, error=problem)
    ref = f"localhost/stockade-runner:{image.digest.removeprefix('sha256:')[:12]}"
    exists = subprocess.run(["podman", "image", "exists", ref], check=False)
    if exists.returncode != 0:
        copied = subprocess.run(
            ["skopeo", "copy", f"oci:{store.layout}:{digest_tag(image.digest)}",
             f"containers-storage:{ref}"],
            capture_output=True, text=True, check=False,
        )
        if copied.returncode != 0:
            return Row(label, error=f"importing the image failed: {_tail(copied.stderr)}")
    base, notes = _podman_command(ref)
    if base is None:
        return Row(label, error="podman cannot run here: " + "; ".join(notes))
    for note in notes:
        console.print(f"[yellow]podman[/]: {note}", highlight=False)
    if notes:
        label = f"podman ({' '.join(base[5:-1])})"
        console.print(f"podman measured as: {' '.join(base)} CMD", highlight=False)

    def first_output() -> float:
        started = time.perf_counter()
        with subprocess.Popen([*base, "echo", "ready"], stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            proc.stdout.readline()
            elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"podman exited {proc.returncode}")
        return elapsed * 1000

    try:
        return Row(label, _collect("podman first output", first_output, warmup=1),
                   time_runs("podman cycle", lambda: subprocess.run(
                       [*base, "true"], check=True, capture_output=True), warmup=1))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        return Row(label, error=f"podman failed during the runs: {exc}")


# What this host may need beyond the plain command, tried in order. Root here lacks
# CAP_SYS_RESOURCE, so podman's default rlimits (nofile 1048576) cannot be set; and crun, podman's
# default runtime, refuses hybrid cgroups (see issue 2).
_PODMAN_VARIANTS: tuple[tuple[str, ...], ...] = (
    (),
    ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"),
    ("--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"),
)


def _podman_command(ref: str) -> tuple[list[str] | None, list[str]]:
    """The first podman command line that runs here, and why the ones before it did not."""
    notes = []
    for extra in _PODMAN_VARIANTS:
        command = ["podman", "run", "--rm", "--network", "none", *extra, ref]
        done = subprocess.run([*command, "true"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return command, notes
        notes.append(f"`{' '.join(command[:5] + list(extra))}` failed: {_tail(done.stderr)}")
    return None, notes


def _install_podman() -> str:
    """Install podman from Debian when missing; the reason it cannot be, or ''."""
    if shutil.which("podman"):
        return ""
    if os.geteuid() != 0:
        return "podman is not installed, and installing it needs root (apt-get install podman)"
    console.print("installing podman (apt-get install -y podman) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "install", "-y", "-q", "podman"],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return f"apt-get install podman failed: {_tail(done.stderr)}"
    return ""


def _collect(
    label: str, measure: Callable[[], float], runs: int = RUNS, warmup: int = 2
) -> Sample:
    """Like ``time_runs``, for actions that measure themselves (they return milliseconds)."""
    for _ in range(warmup):
        measure()
    return Sample(label, tuple(float(measure()) for _ in range(runs)))


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:]) or "(no output)"


# -- the report --------------------------------------------------------------------------------


def _report(rows: list[Row]) -> None:
    table_rows = []
    for row in rows:
        if row.error:
            table_rows.append([row.label, "-", "-", "-", "-"])
            continue
        assert row.first_output is not None and row.cycle is not None
        table_rows.append([
            row.label,
            fmt(row.first_output.median), fmt(row.first_output.p95),
            fmt(row.cycle.median), fmt(row.cycle.p95),
        ])
    print_table(
        f"Sandbox: milliseconds over {RUNS} runs",
        ["", "first output median", "p95", "whole cycle median", "p95"],
        table_rows,
    )
    for row in rows:
        if row.error:
            console.print(f"[yellow]{row.label}[/]: not measured: {row.error}", highlight=False)
    by_label = {row.label: row for row in rows}
    crun = by_label.get("stockade crun")
    podman = next((row for row in rows if row.label.startswith("podman")), None)
    if crun is None or crun.cycle is None:
        console.print("targets: not checked (stockade crun was not measured)")
        return
    verdict = "met" if crun.cycle.median <= CYCLE_TARGET_MS else "MISSED"
    console.print(
        f"target whole cycle ≤ {CYCLE_TARGET_MS:.0f} ms median (crun): "
        f"{fmt(crun.cycle.median)} ms, {verdict}"
    )
    if podman is None or podman.cycle is None or podman.first_output is None:
        console.print("target ≥ 5x faster than podman: not checked (podman was not measured)")
        return
    assert crun.first_output is not None
    ratio = podman.cycle.median / crun.cycle.median
    first_ratio = podman.first_output.median / crun.first_output.median
    verdict = "met" if ratio >= PODMAN_RATIO_TARGET else "MISSED"
    console.print(
        f"ratio podman / stockade-crun: whole cycle {ratio:.1f}x, first output {first_ratio:.1f}x "
        f"(target ≥ {PODMAN_RATIO_TARGET:.0f}x: {verdict})"
    )
