"""200 jobs submitted at once all reach a final state; nothing lost, nothing duplicated."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.agent.harness import (
    job_lines,
    start_agent,
    submit,
    wait_run_final,
)
from tests.integration.server.harness import ServerHandle, make_repo

pytestmark = [pytest.mark.root, pytest.mark.slow]

RUNS, JOBS_PER_RUN = 20, 10


def pipeline() -> str:
    lines = ["version: 1", "jobs:"]
    for j in range(JOBS_PER_RUN):
        lines += [f"  j{j}:", "    steps:", "      - name: say",
                  '        run: echo "$STOCKADE_JOB_ID $STOCKADE_JOB"']
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(600)
def test_two_hundred_jobs_at_once(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path
) -> None:
    server = server_factory(lease_ttl_s=30)
    repo, sha = make_repo(tmp_path / "repo", pipeline())
    agents = [start_agent(server, "trusted", tmp_path / f"agent{i}", concurrency=2,
                          name=f"agent{i}") for i in range(2)]
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            runs = list(pool.map(lambda _: submit(server, repo, sha), range(RUNS)))
        finals = [wait_run_final(server, run["id"], timeout_s=480) for run in runs]
    finally:
        for agent in agents:
            assert agent.terminate() == 0, agent.log()[-2000:]

    jobs = [job for run in finals for job in run["jobs"]]
    assert len(jobs) == RUNS * JOBS_PER_RUN
    assert len({job["id"] for job in jobs}) == RUNS * JOBS_PER_RUN
    unsuccessful = [(job["name"], job["status"], job["detail"],
                     [line["text"] for line in job_lines(server, job["id"])])
                    for job in jobs if job["status"] != "success"]
    assert unsuccessful == []
    assert {run["status"] for run in finals} == {"success"}
    for job in jobs:
        said = [line["text"] for line in job_lines(server, job["id"]) if line["step"] == 0]
        assert said == [f"{job['id']} {job['name']}"], job  # exactly one line, its own
