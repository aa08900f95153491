"""Load: 200 jobs submitted at once are all drained by concurrent protocol clients; every job
reaches a final state exactly once, with nothing lost or leased twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo, pipeline_yaml

JOBS = 200
RUNS = 20  # 20 runs of 10 independent jobs each, submitted concurrently
AGENTS = 4


def test_200_jobs_reach_a_final_state_exactly_once(
    server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    server = server_factory()
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({f"j{i}": [] for i in range(JOBS // RUNS)}))

    def submit(_: int) -> str:
        with server.client() as api:
            answer = api.post("/runs", json={"repository": str(path)})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        run_ids = list(pool.map(submit, range(RUNS)))

    completed: Counter[str] = Counter()
    lock = threading.Lock()

    def drain(index: int) -> None:
        agent = ProtocolAgent.register(server, "trusted", name=f"load-{index}")
        while True:
            lease = agent.run_one(wait_s=0.5)
            if lease is None:
                return
            with lock:
                completed[lease["job_id"]] += 1

    with ThreadPoolExecutor(AGENTS) as pool:
        list(pool.map(drain, range(AGENTS)))

    assert len(completed) == JOBS
    assert set(completed.values()) == {1}
    with server.client() as api:
        runs = [api.get(f"/runs/{rid}").json() for rid in run_ids]
        lines = [api.get(f"/runs/{rid}/logs").json()["lines"] for rid in run_ids]
    assert all(r["status"] == "success" for r in runs)
    jobs = [j for r in runs for j in r["jobs"]]
    assert len(jobs) == JOBS and {j["id"] for j in jobs} == set(completed)
    assert all(j["attempt"] == 1 and j["infra_retries"] == 0 for j in jobs)
    assert sum(len(x) for x in lines) == JOBS  # one line per job, none duplicated
