"""Sandbox benchmark: creation to first output, and the whole create-run-destroy cycle of `true`.

Measured for each Stockade backend (crun, runc, bwrap) through ``Executor.run_job``, beside the
bare process and ``podman run --rm --network none`` of the same image (podman is installed from
Debian by this setup when missing; if it cannot run here, the reason is printed instead).
The subjects are measured in interleaved rounds, so that load from anything else on the host
weighs on all of them alike. Targets (issue 2): crun cycle median at most 60 ms, and at least 5x
faster than podman.

"stockade crun, warm pool" is the agent's default: the executor prepares the next job's sandbox
while a job runs (stockade.sandbox.warm), so in this back-to-back loop the creation of job N+1
overlaps job N; "stockade crun" is every sandbox created cold, on the job's own time.

Environment: BENCH_RUNS (default 30), BENCH_BACKENDS (default "crun,runc,bwrap"),
BENCH_BUDGET_S (seconds one subject may take, default 30; fewer runs are then reported as such).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import RUNS, Sample, console, fmt, print_table

from stockade.config import load_settings
from stockade.errors import StockadeError
from stockade.images.oci import digest_tag
from stockade.images.store import ImageRecord, ImageStore

BACKENDS = tuple(
    name for name in os.environ.get("BENCH_BACKENDS", "crun,runc,bwrap").split(",") if name
)
CYCLE_TARGET_MS = 60.0
PODMAN_RATIO_TARGET = 5.0
EGRESS_SETUP_TARGET_MS = 10.0  # issue 4: per-job network setup plus teardown
WARMUP = 2
# Keeps `make bench` bounded (issue: about 3 minutes) when one subject is pathologically slow.
BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", "30"))

Probe = Callable[[], float]  # one run; returns its milliseconds


@dataclass
class Subject:
    """Something measured: its two probes, or why it could not be measured."""

    label: str
    first_output: Probe | None = None
    cycle: Probe | None = None
    error: str = ""
    close: Callable[[], None] = lambda: None
    values: dict[str, list[float]] = field(default_factory=lambda: {"first": [], "cycle": []})


def main() -> None:
    settings = load_settings()
    store = ImageStore(settings.images_dir)
    try:
        image = store.resolve("default")
    except StockadeError as exc:
        console.print(f"[red]{exc}[/]")
        return
    store.rootfs(image.digest)  # unpack outside the timings: every sandbox shares it
    console.print(f"image default {image.digest}, {RUNS} runs per figure", highlight=False)
    subjects = [_bare()]
    subjects += [_stockade(store, image, backend) for backend in BACKENDS]
    if "crun" in BACKENDS:
        subjects.append(_stockade(store, image, "crun", egress=True))
        subjects.append(_stockade(store, image, "crun", warm=True))
    subjects.append(_podman(store, image))
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        _measure(subjects)
    finally:
        for subject in subjects:
            subject.close()
    load_after = os.getloadavg()[0]
    console.print(
        f"measured in {time.monotonic() - started:.0f} s; load average {load_before:.2f} before, "
        f"{load_after:.2f} after (2 cores: figures above ~1 include other work)",
        highlight=False,
    )
    _report(subjects)
    out = _save(subjects, image, settings.home, (load_before, load_after))
    console.print(f"[dim]raw figures: {out}[/]", highlight=False)


def _measure(subjects: list[Subject]) -> None:
    """Warm every probe, then run them round-robin ``RUNS`` times (within each time budget)."""
    spent = {id(subject): 0.0 for subject in subjects}
    probes = [
        (subject, key, probe)
        for subject in subjects
        if not subject.error
        for key, probe in (("first", subject.first_output), ("cycle", subject.cycle))
        if probe is not None
    ]
    for round_ in range(-WARMUP, RUNS):
        for subject, key, probe in probes:
            if subject.error or spent[id(subject)] > BUDGET_S:
                continue
            started = time.monotonic()
            try:
                value = probe()
            except Exception as exc:  # report it in the table and go on with the others
                subject.error = f"a run failed: {type(exc).__name__}: {exc}"
                continue
            finally:
                spent[id(subject)] += time.monotonic() - started
            if round_ >= 0:
                subject.values[key].append(value)
    for subject in subjects:
        runs = min(len(subject.values["first"]), len(subject.values["cycle"]))
        if subject.error or runs == RUNS:
            continue
        if runs == 0:
            subject.error = f"no timed run within the {BUDGET_S:.0f} s budget"
        else:
            subject.label += f" [{runs} runs: {BUDGET_S:.0f} s budget]"


# -- the subjects ------------------------------------------------------------------------------


def _timed(action: Callable[[], object]) -> Probe:
    def probe() -> float:
        started = time.perf_counter()
        action()
        return (time.perf_counter() - started) * 1000

    return probe


def _first_line_of(command: list[str]) -> Probe:
    """Milliseconds from spawning ``command`` to reading its first line of output."""

    def probe() -> float:
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            elapsed = time.perf_counter() - started
            proc.communicate()
        if proc.returncode != 0 or line.strip() != b"ready":
            raise RuntimeError(f"{command[0]} exited {proc.returncode}, first line {line!r}")
        return elapsed * 1000

    return probe


def _bare() -> Subject:
    return Subject(
        "bare process (subprocess)",
        first_output=_first_line_of(["echo", "ready"]),
        cycle=_timed(lambda: subprocess.run(["true"], check=True)),
    )


def _stockade(store: ImageStore, image: ImageRecord, backend: str,
              egress: bool = False, warm: bool = False) -> Subject:
    label = (f"stockade {backend}" + (" + egress proxy" if egress else "")
             + (", warm pool" if warm else ""))
    try:
        from stockade.sandbox.executor import Executor
        from stockade.sandbox.interface import JobSpec, Outcome, OutputLine, StepSpec
    except ImportError as exc:
        return Subject(label, error=f"the sandbox executor is not available: {exc}")
    network = _network() if egress else None
    work = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-", dir=store.root.parent))
    try:
        executor = Executor(store, work_root=work, backend=backend, warm=warm)
    except Exception as exc:  # a backend that refuses this host says why; the bench goes on
        shutil.rmtree(work, ignore_errors=True)
        return Subject(label, error=f"{type(exc).__name__}: {exc}")
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
        spec = job("echo ready")
        result = executor.run_job(spec, None, on_output, network=attach(spec.job_id))
        if result.outcome != Outcome.SUCCESS or not seen:
            raise RuntimeError(f"{result.outcome}: {result.detail}")
        return (seen[0] - started) * 1000

    def cycle() -> None:
        spec = job("true")
        result = executor.run_job(spec, None, lambda _line: None, network=attach(spec.job_id))
        if result.outcome != Outcome.SUCCESS:
            raise RuntimeError(f"{result.outcome}: {result.detail}")

    def attach(job_id: str) -> Any:
        return network[1](job_id) if network is not None else None

    def close() -> None:
        executor.close()
        if network is not None:
            network[0].close()
        shutil.rmtree(work, ignore_errors=True)

    return Subject(label, first_output=first_output, cycle=_timed(cycle), close=close)


def _network() -> tuple[Any, Callable[[str], Any]]:
    """The agent's egress proxy, and a maker of one job's network attachment on it."""
    from stockade.agent.network import JobNetwork
    from stockade.egress import Allowlist, EgressThread, JobEgress

    proxy = EgressThread().start()

    def attachment(job_id: str) -> Any:
        config = JobEgress(job_id=job_id, run_id="bench", allowlist=Allowlist.parse(["pypi.org"]))
        return JobNetwork(proxy, config, lambda _line: None)

    return proxy, attachment


def _podman(store: ImageStore, image: ImageRecord) -> Subject:
    label = "podman run --rm --network none"
    problem = _install_podman()
    if problem:
        return Subject(label, error=problem)
    ref = f"localhost/stockade-runner:{image.digest.removeprefix('sha256:')[:12]}"
    exists = subprocess.run(["podman", "image", "exists", ref], check=False)
    if exists.returncode != 0:
        # The store's OCI layout is the source: the same image, not a registry's.
        copied = subprocess.run(
            ["skopeo", "copy", f"oci:{store.layout}:{digest_tag(image.digest)}",
             f"containers-storage:{ref}"],
            capture_output=True, text=True, check=False,
        )
        if copied.returncode != 0:
            return Subject(label, error=f"importing the image failed: {_tail(copied.stderr)}")
        _forget_older_imports(ref)
    base, notes = _podman_command(ref)
    for note in notes:
        console.print(f"[yellow]podman[/]: {note}", highlight=False)
    if base is None:
        return Subject(label, error="podman cannot run here (see above)")
    if notes:
        label = f"podman ({' '.join(base[5:-1])})"
        console.print(f"podman measured as: {' '.join(base)} CMD", highlight=False)
    return Subject(
        label,
        first_output=_first_line_of([*base, "echo", "ready"]),
        cycle=_timed(lambda: subprocess.run([*base, "true"], check=True, capture_output=True)),
    )


def _forget_older_imports(current: str) -> None:
    """Remove the bench's earlier imports of other digests from podman's storage (~250 MB each)."""
    listed = subprocess.run(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True, check=False,
    )
    repository = current.rsplit(":", 1)[0]
    stale = [ref for ref in listed.stdout.split() if ref.startswith(repository + ":")
             and ref != current]
    if stale:
        subprocess.run(["podman", "rmi", *stale], capture_output=True, check=False)


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


def _save(
    subjects: list[Subject], image: ImageRecord, home: Path, load: tuple[float, float]
) -> Path:
    """Every run's figure as JSON under ``$STOCKADE_HOME/bench/``, for later comparison."""
    body = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "image": image.digest,
        "runs": RUNS,
        "load_average": {"before": load[0], "after": load[1]},
        "subjects": {
            subject.label: {"error": subject.error} if subject.error else {
                "first_output_ms": subject.values["first"],
                "cycle_ms": subject.values["cycle"],
            }
            for subject in subjects
        },
    }
    out = home / "bench" / "sandbox.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=1) + "\n")
    return out


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:]) or "(no output)"


# -- the report --------------------------------------------------------------------------------


def _report(subjects: list[Subject]) -> None:
    samples: dict[str, tuple[Sample, Sample]] = {}
    rows = []
    for subject in subjects:
        if subject.error:
            rows.append([subject.label, "-", "-", "-", "-"])
            continue
        first = Sample(f"{subject.label} first output", tuple(subject.values["first"]))
        cycle = Sample(f"{subject.label} cycle", tuple(subject.values["cycle"]))
        samples[subject.label] = (first, cycle)
        rows.append([subject.label, fmt(first.median), fmt(first.p95),
                     fmt(cycle.median), fmt(cycle.p95)])
    print_table(
        f"Sandbox: milliseconds over {RUNS} runs each",
        ["", "first output median", "p95", "whole cycle median", "p95"],
        rows,
    )
    for subject in subjects:
        if subject.error:
            console.print(f"[yellow]{subject.label}[/]: not measured: {subject.error}",
                          highlight=False)
    crun = samples.get("stockade crun")
    podman = next((value for label, value in samples.items() if label.startswith("podman")), None)
    if crun is None:
        console.print("targets: not checked (stockade crun was not measured)")
        return
    verdict = "met" if crun[1].median <= CYCLE_TARGET_MS else "MISSED"
    console.print(
        f"target whole cycle ≤ {CYCLE_TARGET_MS:.0f} ms median (crun): "
        f"{fmt(crun[1].median)} ms, {verdict}"
    )
    egress = samples.get("stockade crun + egress proxy")
    if egress is not None:
        added = egress[1].median - crun[1].median
        verdict = "met" if added <= EGRESS_SETUP_TARGET_MS else "MISSED"
        console.print(
            f"egress: per-job network (namespace listener, proxy register/unregister, teardown "
            f"check) adds {added:.1f} ms to the crun cycle median "
            f"({fmt(egress[1].median)} vs {fmt(crun[1].median)} ms; target ≤ "
            f"{EGRESS_SETUP_TARGET_MS:.0f} ms: {verdict}; noise on this host is a few ms)",
            highlight=False,
        )
    if podman is None:
        console.print("target ≥ 5x faster than podman: not checked (podman was not measured)")
        return
    for name, figures in (("crun, cold", crun), ("crun, warm pool",
                                                  samples.get("stockade crun, warm pool"))):
        if figures is None:
            continue
        ratio = podman[1].median / figures[1].median
        first_ratio = podman[0].median / figures[0].median
        verdict = "met" if ratio >= PODMAN_RATIO_TARGET else "MISSED"
        console.print(
            f"ratio podman / stockade {name}: whole cycle {ratio:.1f}x, first output "
            f"{first_ratio:.1f}x (target ≥ {PODMAN_RATIO_TARGET:.0f}x on the whole cycle: "
            f"{verdict})", highlight=False,
        )
