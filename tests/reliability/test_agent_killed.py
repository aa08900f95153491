"""An agent killed with SIGKILL in the middle of a job: the job is requeued when its lease expires,
finished by a new agent, and the lines stored before the kill are kept exactly once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.agent.harness import (
    cleanup_killed_agent,
    get,
    job_lines,
    start_agent,
    submit,
    wait_run_final,
    wait_until,
)
from tests.integration.server.harness import ServerHandle, make_repo

pytestmark = [pytest.mark.root, pytest.mark.slow]

PIPELINE = """\
version: 1
jobs:
  slow:
    steps:
      - name: print then sleep
        run: |
          for i in 1 2 3 4 5; do echo "line $i of attempt $STOCKADE_ATTEMPT"; done
          sleep 6
          echo "finished attempt $STOCKADE_ATTEMPT"
"""


def test_killed_agent_job_is_finished_by_a_new_agent_with_logs_kept_once(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path
) -> None:
    server = server_factory(lease_ttl_s=3, heartbeat_interval_s=0.5)
    repo, sha = make_repo(tmp_path / "repo", PIPELINE)
    first = start_agent(server, "trusted", tmp_path / "agent1", name="first")
    try:
        run = submit(server, repo, sha)
        job_id = run["jobs"][0]["id"]
        wait_until(lambda: len([line for line in job_lines(server, job_id)
                                if line["text"].startswith("line ")]) == 5,
                   60, "the first five lines to be stored")
        first.kill9()
        before = job_lines(server, job_id)
        second = start_agent(server, "trusted", tmp_path / "agent2", name="second")
        try:
            final = wait_run_final(server, run["id"], timeout_s=90)
        finally:
            assert second.terminate() == 0
    finally:
        cleanup_killed_agent(first, tmp_path / "agent1")

    job = get(server, f"/jobs/{job_id}")
    assert final["status"] == "success", (job, first.log())
    assert job["attempt"] == 2 and job["infra_retries"] == 1

    lines = job_lines(server, job_id)
    attempt1 = [line for line in lines if line["attempt"] == 1]
    # What was stored before the kill is still there, unchanged and exactly once.
    assert [(line["seq"], line["text"]) for line in attempt1] == \
        [(line["seq"], line["text"]) for line in before]
    assert [line["seq"] for line in attempt1] == list(range(len(attempt1)))
    texts1 = [line["text"] for line in attempt1 if line["step"] == 0]
    assert texts1 == [f"line {i} of attempt 1" for i in range(1, 6)]
    # The new agent ran the job again, from the start, to its end.
    attempt2 = [line["text"] for line in lines if line["attempt"] == 2 and line["step"] == 0]
    assert attempt2 == [f"line {i} of attempt 2" for i in range(1, 6)] + ["finished attempt 2"]
