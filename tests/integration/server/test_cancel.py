"""Cancelling a run: waiting jobs stop at once, running ones are told on their heartbeat."""

from __future__ import annotations

from pathlib import Path

from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo, pipeline_yaml


def test_cancel_stops_waiting_jobs_and_asks_running_ones_to_stop(server: ServerHandle, tmp_path: Path) -> None:
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"a": [], "b": ["a"], "c": []}))
    with server.client() as api:
        run = api.post("/runs", json={"repository": str(path)}).json()
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=2)
    assert lease is not None and lease["job"]["name"] == "a"
    agent.log(lease["lease_id"], "working\n").raise_for_status()
    assert agent.heartbeat(lease["lease_id"]).json()["cancel"] is False

    with server.client() as api:
        cancelled = api.post(f"/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200
    statuses = {j["name"]: j["status"] for j in cancelled.json()["jobs"]}
    assert statuses == {"a": "running", "b": "cancelled", "c": "cancelled"}

    assert agent.heartbeat(lease["lease_id"]).json()["cancel"] is True
    agent.complete(lease["lease_id"], "cancelled", last_seq=0).raise_for_status()
    with server.client() as api:
        final = api.get(f"/runs/{run['id']}").json()
    assert final["status"] == "cancelled"
    assert {j["name"]: j["status"] for j in final["jobs"]} == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}
    assert agent.lease(wait_s=0.2) is None


def test_cancelling_an_unknown_run_is_not_found(shared_server: ServerHandle) -> None:
    with shared_server.client() as api:
        answer = api.post("/runs/run_doesnotexist/cancel")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
