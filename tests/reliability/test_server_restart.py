"""The server restarts (gracefully, or killed) in the middle of a run: the run goes on and
finishes, and every line is stored exactly once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.agent.harness import (
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
  first:
    steps:
      - name: tick
        run: for i in 1 2 3 4 5 6; do echo "first $i"; sleep 0.5; done
  second:
    needs: [first]
    steps:
      - name: tick
        run: for i in 1 2 3; do echo "second $i"; done
"""


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "kill-9"])
def test_run_survives_a_server_restart(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path, hard: bool
) -> None:
    server = server_factory(lease_ttl_s=30, heartbeat_interval_s=0.5)
    repo, sha = make_repo(tmp_path / "repo", PIPELINE)
    agent = start_agent(server, "trusted", tmp_path / "agent")
    try:
        run = submit(server, repo, sha)
        first_id = next(job["id"] for job in run["jobs"] if job["name"] == "first")
        wait_until(lambda: any(line["text"] == "first 2" for line in job_lines(server, first_id)),
                   60, "the first job to be half way")
        server.restart(hard=hard)
        final = wait_run_final(server, run["id"], timeout_s=90)
        assert agent.proc.poll() is None, agent.log()  # the agent rode through the restart
    finally:
        assert agent.terminate() == 0

    assert final["status"] == "success", final
    by_name = {job["name"]: job for job in final["jobs"]}
    assert by_name["first"]["attempt"] == 1  # not requeued: the lease outlived the restart
    for name, expected in (("first", [f"first {i}" for i in range(1, 7)]),
                           ("second", [f"second {i}" for i in range(1, 4)])):
        lines = job_lines(server, by_name[name]["id"])
        assert [line["seq"] for line in lines] == list(range(len(lines)))
        assert [line["text"] for line in lines if line["step"] == 0] == expected
    assert get(server, f"/runs/{run['id']}")["status"] == "success"
