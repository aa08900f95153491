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
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import RUNS, Sample, console, fmt, git_repo, print_table

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
        repo, sha = git_repo(root / "repo", PIPELINE)
        data = root / "home"
        data.mkdir()
        (data / "images").symlink_to(settings.images_dir.resolve(), target_is_directory=True)
        stack = Stack(home=data)
        try:
            api = stack.start_server()
            agent = stack.start_agent(api, "trusted", concurrency=1, drain_timeout_s=10)
            _wait_agents(api, 1)
            latency = _first_output(api, stack.url, repo, sha)
            rates: dict[int, Rate] = {}
            for concurrency in CONCURRENCY:
                agent.stop(15.0)
                agent = stack.start_agent(api, "trusted", concurrency=concurrency,
                                          drain_timeout_s=10)
                _wait_agents(api, 1)
                assert stack.server is not None
                before = _cpu_s(stack.server.pid), _cpu_s(agent.pid)
                rate = _throughput(api, repo, sha, THROUGHPUT_JOBS)
                after = _cpu_s(stack.server.pid), _cpu_s(agent.pid)
                rates[concurrency] = Rate(
                    rate,
                    server_cpu_ms=(after[0] - before[0]) * 1000 / THROUGHPUT_JOBS,
                    agent_cpu_ms=(after[1] - before[1]) * 1000 / THROUGHPUT_JOBS,
                )
            api.close()
        finally:
            stack.stop(drain_timeout_s=15.0)
    _report(latency, sandbox_first, sandbox_cycle, rates)


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


@dataclass(frozen=True)
class Rate:
    jobs_per_s: float
    server_cpu_ms: float  # CPU the server process spent per job (all its requests)
    agent_cpu_ms: float  # CPU of the agent and the runtime processes it waited for, per job


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its reaped children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Latency:
    """Submit → first output, and where it went (milliseconds, one value per run)."""

    first: Sample  # POST /runs sent → the job's first line received by an SSE follower
    submit: Sample  # POST /runs answered (classify, plan, store, queue)
    delivery: Sample  # the line read by the agent from the sandbox → received by the follower
    checkout: Sample  # the agent's checkout (0 once a commit's tree is cached)


def _first_output(api: ApiClient, url: str, repo: Path, sha: str) -> Latency:
    """Submit, follow the job's SSE stream, time the first line of the job's own output."""
    firsts, submits, deliveries, checkouts = [], [], [], []
    for index in range(RUNS + 3):
        wall, started = time.time(), time.perf_counter()
        run = _submit(api, repo, sha)
        submitted = (time.perf_counter() - started) * 1000
        job_id = run["jobs"][0]["id"]
        first: float | None = None
        delivery = 0.0
        follower = ApiClient(url, api.token)
        try:
            for event in follower.stream_events(f"/jobs/{job_id}/logs?follow=true"):
                if event.event == "end":
                    break
                line = event.data
                if first is None and line.get("step") == 0:
                    first = (time.perf_counter() - started) * 1000
                    # Same host, same clock: the agent stamped the line when it read it.
                    delivery = (wall + first / 1000 - float(line["ts"])) * 1000
                match = _CHECKOUT.search(str(line.get("text", "")))
                if match and index >= 3:
                    checkouts.append(float(match.group(1)) * 1000)
        finally:
            follower.close()
        if index >= 3 and first is not None:  # three warm-up runs fill caches and mirrors
            firsts.append(first)
            submits.append(submitted)
            deliveries.append(delivery)
    return Latency(
        Sample("submit → first output", tuple(firsts)),
        Sample("POST /runs", tuple(submits)),
        Sample("delivery", tuple(deliveries)),
        Sample("checkout", tuple(checkouts)),
    )


def _throughput(api: ApiClient, repo: Path, sha: str, jobs: int) -> float:
    """Jobs per second from the first submit until the last of ``jobs`` one-job runs is final.

    The end is the server's own ``finished_at`` of the last run (same host, same clock), so the
    watcher can poll gently: polling the run list every few milliseconds would itself cost the
    2-core host a good share of a core and be counted as the server's CPU per job.
    """
    started_wall = time.time()
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
            elapsed = max(float(r["finished_at"]) for r in done) - started_wall
            failed = [r["id"] for r in done if r["status"] != "success"]
            if failed:
                console.print(f"[red]{len(failed)} runs did not succeed, e.g. {failed[0]}[/]")
            return len(ids) / elapsed
        time.sleep(0.25)


# -- report -----------------------------------------------------------------------------------


def _report(latency: Latency, sandbox_first: Sample, sandbox_cycle: Sample,
            rates: dict[int, Rate]) -> None:
    first = latency.first
    rest = first.median - latency.submit.median - sandbox_first.median - latency.delivery.median
    print_table(
        f"Control plane, {RUNS} runs per latency figure (ms)",
        ["measure", "median", "p95", "target"],
        [
            [first.label, fmt(first.median), fmt(first.p95),
             f"≤ {FIRST_OUTPUT_TARGET_MS:.0f} median"],
            ["  POST /runs answered (server: classify, plan, queue)",
             fmt(latency.submit.median), fmt(latency.submit.p95), ""],
            ["  sandbox alone, creation to first output", fmt(sandbox_first.median),
             fmt(sandbox_first.p95), ""],
            ["  line read by the agent → at the SSE follower", fmt(latency.delivery.median),
             fmt(latency.delivery.p95), ""],
            ["  the rest: lease wake-up, agent, sandbox under load", fmt(rest), "", ""],
            ["  agent checkout (0 once the commit's tree is cached)",
             fmt(_median(latency.checkout)),
             fmt(latency.checkout.p95 if latency.checkout.values_ms else None), ""],
            ["sandbox alone, whole cycle", fmt(sandbox_cycle.median), fmt(sandbox_cycle.p95), ""],
        ],
    )
    serial = 1000 / sandbox_cycle.median if sandbox_cycle.median else 0.0
    rows = [[f"agent --concurrency {c}", f"{r.jobs_per_s:.1f}", f"{r.server_cpu_ms:.0f}",
             f"{r.agent_cpu_ms:.0f}", f"≥ {JOBS_PER_S_TARGET:.0f}"] for c, r in rates.items()]
    rows.append(["sandbox alone, serial (1000 / cycle median)", f"{serial:.1f}", "", "", ""])
    print_table(f"Sustained trivial jobs per second ({THROUGHPUT_JOBS} one-job runs each)",
                ["path", "jobs/s", "server CPU ms/job", "agent CPU ms/job", "target"], rows)
    load = os.getloadavg()[0]
    console.print(f"[dim]load average {load:.1f} on {os.cpu_count()} CPUs at the end "
                  "(other work on the host slows every figure)[/]")


def _median(sample: Sample) -> float | None:
    return statistics.median(sample.values_ms) if sample.values_ms else None


if __name__ == "__main__":
    main()
