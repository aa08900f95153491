"""The server restarts in the middle of a run -- gracefully or killed -- and the run goes on:
the database is the state, and live leases survive the outage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo, pipeline_yaml


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "kill-9"])
def test_a_run_survives_a_server_restart(
    server_factory: Callable[..., ServerHandle], tmp_path: Path, hard: bool
) -> None:
    server = server_factory(lease_ttl_s=3)
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"first": [], "second": ["first"]}))
    with server.client() as api:
        run = api.post("/runs", json={"repository": str(path)}).json()
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=5)
    assert lease is not None and lease["job"]["name"] == "first"
    agent.log(lease["lease_id"], "before the restart\n").raise_for_status()

    server.restart(hard=hard)

    # The same credential and the same lease keep working on the new process.
    beat = agent.heartbeat(lease["lease_id"])
    assert beat.status_code == 200, beat.text
    assert agent.log(lease["lease_id"], "after the restart\n", start=1).json()["acked_seq"] == 1
    agent.complete(lease["lease_id"], last_seq=1).raise_for_status()
    assert agent.run_one()["job"]["name"] == "second"

    with server.client() as api:
        final = api.get(f"/runs/{run['id']}").json()
        lines = api.get(f"/jobs/{lease['job_id']}/logs").json()["lines"]
    assert final["status"] == "success"
    assert [j["attempt"] for j in final["jobs"]] == [1, 1]
    assert [line["text"] for line in lines] == ["before the restart\n", "after the restart\n"]


def test_a_restart_keeps_tokens_and_does_not_mint_a_new_admin(server: ServerHandle) -> None:
    viewer = server.token("viewer")
    first_admin = server.admin_token
    server.restart()
    assert server.admin_token == first_admin
    with server.client(viewer) as api:
        assert api.get("/runs").status_code == 200
