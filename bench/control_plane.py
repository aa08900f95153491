"""Control-plane benchmark: the full path — HTTP API, queue, agent, checkout, sandbox, log store.

Measured with a real server and real agents as subprocesses (the ``stockade up`` code path) on
one-job pipelines whose one step is ``echo first``:

- submit → first output line: from ``POST /api/v1/runs`` to the job's first line of its own
  output arriving at a client following the SSE log stream (median, p95; image warm);
- sustained trivial jobs per second with agents at ``--concurrency`` 1, 2 and 4;
- beside them, the sandbox alone (``Executor.run_job`` of the same step, no control plane) and
  the agent's checkout time, so the control plane's own cost is visible.

Targets (issue 3): median submit → first output ≤ 100 ms; ≥ 10 trivial jobs/s sustained.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import RUNS, Sample, console, fmt, print_table

from stockade.cli.client import ApiClient
from stockade.cli.stack import Stack
from stockade.config import load_settings
from stockade.images.store import ImageStore
from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobSpec, OutputLine, Resources, StepSpec

FIRST_OUTPUT_TARGET_MS = 100.0
JOBS_PER_S_TARGET = 10.0
CONCURRENCY = (1, 2, 4)
THROUGHPUT_JOBS = int(os.environ.get("BENCH_CP_JOBS", "60"))
PIPELINE = """\
version: 1
jobs:
  trivial:
    resources: {cpus: 1, memory: 256Mi, pids: 64, disk: 64Mi}
    steps:
      - name: echo
        run: echo first
"""
_CHECKOUT = re.compile(r"checkout of \w+ ([0-9.]+)s")


def main() -> None:
    settings = load_settings()
    store = ImageStore(settings.images_dir)
    image = store.resolve("default")
    store.rootfs(image.digest)
    with tempfile.TemporaryDirectory(prefix="stockade-bench-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        sandbox_first, sandbox_cycle = _sandbox_only(store, image.digest, root / "sandbox")
        repo, sha = _repo(root / "repo")
        data = root / "home"
        data.mkdir()
        (data / "images").symlink_to(settings.images_dir.resolve(), target_is_directory=True)
        stack = Stack(home=data)
        try:
            api = stack.start_server()
            agent = stack.start_agent(api, "trusted", concurrency=1, drain_timeout_s=10)
            _wait_agents(api, 1)
            first, checkouts = _first_output(api, stack.url, repo, sha)
            rates: dict[int, float] = {}
            for concurrency in CONCURRENCY:
                agent.stop(15.0)
                agent = stack.start_agent(api, "trusted", concurrency=concurrency,
                                          drain_timeout_s=10)
                _wait_agents(api, 1)
                rates[concurrency] = _throughput(api, repo, sha, THROUGHPUT_JOBS)
            api.close()
        finally:
            stack.stop(drain_timeout_s=15.0)
    _report(first, sandbox_first, sandbox_cycle, checkouts, rates)


# -- the sandbox alone ------------------------------------------------------------------------


def _sandbox_only(store: ImageStore, digest: str, work: Path) -> tuple[Sample, Sample]:
    executor = Executor(store, work_root=work)
    spec = JobSpec(job_id="bench", image=digest, steps=(StepSpec(name="echo", run="echo first"),),
                   resources=Resources(memory_bytes=256 << 20, pids=64, disk_bytes=64 << 20))
    firsts, cycles = [], []
    try:
        _cycles(executor, spec, firsts, cycles)
    finally:
        executor.close()
    return Sample("sandbox first output", tuple(firsts)), Sample("sandbox cycle", tuple(cycles))


def _cycles(executor: Executor, spec: JobSpec, firsts: list[float], cycles: list[float]) -> None:
    for index in range(RUNS + 2):
        started = time.perf_counter()
        seen: list[float] = []

        def on_output(line: OutputLine, seen: list[float] = seen, started: float = started) -> None:
            if line.step == 0 and not seen:
                seen.append((time.perf_counter() - started) * 1000)

        executor.run_job(spec, None, on_output)
        if index >= 2 and seen:
            firsts.append(seen[0])
            cycles.append((time.perf_counter() - started) * 1000)


# -- the full path ----------------------------------------------------------------------------


def _repo(path: Path) -> tuple[Path, str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}
    path.mkdir(parents=True)
    (path / ".stockade.yml").write_text(PIPELINE)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return path, sha


def _submit(api: ApiClient, repo: Path, sha: str) -> dict[str, Any]:
    run: dict[str, Any] = api.post("/runs", {"repository": str(repo), "ref": "refs/heads/main",
                                             "sha": sha, "event": "manual"})
    return run


def _wait_agents(api: ApiClient, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        agents = api.get("/agents")["agents"]
        if sum(1 for a in agents if a.get("state") not in ("gone", "offline")) >= count:
            return
        time.sleep(0.05)


def _first_output(api: ApiClient, url: str, repo: Path, sha: str) -> tuple[Sample, Sample]:
    """Submit, follow the job's SSE stream, time the first line of the job's own output."""
    values, checkouts = [], []
    for index in range(RUNS + 3):
        started = time.perf_counter()
        run = _submit(api, repo, sha)
        job_id = run["jobs"][0]["id"]
        first: float | None = None
        follower = ApiClient(url, api.token)
        try:
            for event in follower.stream_events(f"/jobs/{job_id}/logs?follow=true"):
                if event.event == "end":
                    break
                line = event.data
                if first is None and line.get("step") == 0:
                    first = (time.perf_counter() - started) * 1000
                match = _CHECKOUT.search(str(line.get("text", "")))
                if match and index >= 3:
                    checkouts.append(float(match.group(1)) * 1000)
        finally:
            follower.close()
        if index >= 3 and first is not None:  # three warm-up runs fill caches and mirrors
            values.append(first)
    return Sample("submit → first output", tuple(values)), Sample("checkout", tuple(checkouts))


def _throughput(api: ApiClient, repo: Path, sha: str, jobs: int) -> float:
    """Jobs per second from the first submit until the last of ``jobs`` one-job runs is final."""
    started = time.perf_counter()
    local = threading.local()

    def submit(_: int) -> str:
        if not hasattr(local, "api"):
            local.api = ApiClient(api.base_url, api.token)
        return str(_submit(local.api, repo, sha)["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(submit, range(jobs)))
    while True:
        runs = api.get(f"/runs?limit={jobs}")["runs"]
        done = [r for r in runs if r["id"] in ids and r["status"] in ("success", "failed",
                                                                      "cancelled")]
        if len(done) == len(ids):
            elapsed = time.perf_counter() - started
            failed = [r["id"] for r in done if r["status"] != "success"]
            if failed:
                console.print(f"[red]{len(failed)} runs did not succeed, e.g. {failed[0]}[/]")
            return len(ids) / elapsed
        time.sleep(0.02)


# -- report -----------------------------------------------------------------------------------


def _report(first: Sample, sandbox_first: Sample, sandbox_cycle: Sample, checkouts: Sample,
            rates: dict[int, float]) -> None:
    print_table(
        f"Control plane, {RUNS} runs per latency figure (ms)",
        ["measure", "median", "p95", "target"],
        [
            [first.label, fmt(first.median), fmt(first.p95),
             f"≤ {FIRST_OUTPUT_TARGET_MS:.0f} median"],
            ["  of which: sandbox alone, to first output", fmt(sandbox_first.median),
             fmt(sandbox_first.p95), ""],
            ["  of which: agent checkout (git)", fmt(_median(checkouts)),
             fmt(checkouts.p95 if checkouts.values_ms else None), ""],
            ["  control plane's own share", fmt(first.median - sandbox_first.median), "", ""],
            ["sandbox alone, whole cycle", fmt(sandbox_cycle.median), fmt(sandbox_cycle.p95), ""],
        ],
    )
    serial = 1000 / sandbox_cycle.median if sandbox_cycle.median else 0.0
    rows = [[f"agent --concurrency {c}", f"{rate:.1f}", f"≥ {JOBS_PER_S_TARGET:.0f}"]
            for c, rate in rates.items()]
    rows.append(["sandbox alone, serial (1000 / cycle median)", f"{serial:.1f}", ""])
    print_table(f"Sustained trivial jobs per second ({THROUGHPUT_JOBS} one-job runs each)",
                ["path", "jobs/s", "target"], rows)


def _median(sample: Sample) -> float | None:
    return statistics.median(sample.values_ms) if sample.values_ms else None


if __name__ == "__main__":
    main()
