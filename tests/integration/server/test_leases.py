"""Leases: heartbeats keep them, expiry requeues the job as a counted infrastructure retry, and
after the last retry the job is lost. Log lines of every attempt are kept exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo, pipeline_yaml


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def job(server: ServerHandle, job_id: str) -> dict:
    with server.client() as api:
        return api.get(f"/jobs/{job_id}").json()


def test_expired_leases_are_retried_then_lost(server_factory: Callable[..., ServerHandle], tmp_path: Path) -> None:
    server = server_factory(lease_ttl_s=1, max_infra_retries=2)
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"flaky": [], "after": ["flaky"]}))
    with server.client() as api:
        run = api.post("/runs", json={"repository": str(path)}).json()
    agent = ProtocolAgent.register(server, "trusted")

    seen_attempts = []
    for attempt in (1, 2, 3):
        lease = agent.lease(wait_s=10)
        assert lease is not None and lease["job"]["name"] == "flaky"
        assert lease["attempt"] == attempt
        seen_attempts.append(attempt)
        agent.log(lease["lease_id"], f"attempt {attempt}\n").raise_for_status()
        # The agent "dies": no more heartbeats. Its old lease is refused once reaped.
        wait_for(lambda a=attempt, jid=lease["job_id"]: job(server, jid)["attempt"] > a
                 or job(server, jid)["status"] == "lost")
        assert agent.heartbeat(lease["lease_id"]).json()["code"] == "lease_lost"
        assert agent.complete(lease["lease_id"], "success").json()["code"] == "lease_lost"

    final = job(server, lease["job_id"])
    assert final["status"] == "lost"
    assert final["infra_retries"] == 2 and final["attempt"] == 3
    assert "expired" in final["detail"]
    with server.client() as api:
        after = api.get(f"/runs/{run['id']}").json()
        lines = api.get(f"/jobs/{lease['job_id']}/logs").json()["lines"]
    assert {j["name"]: j["status"] for j in after["jobs"]} == {"flaky": "lost", "after": "skipped"}
    assert after["status"] == "failed"
    assert [(line["attempt"], line["text"]) for line in lines] == [(1, "attempt 1\n"), (2, "attempt 2\n"), (3, "attempt 3\n")]


def test_heartbeats_keep_a_lease_alive(server_factory: Callable[..., ServerHandle], tmp_path: Path) -> None:
    server = server_factory(lease_ttl_s=1)
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"long": []}))
    with server.client() as api:
        api.post("/runs", json={"repository": str(path)}).raise_for_status()
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=5)
    assert lease is not None
    for _ in range(8):  # 2.4 s: more than two TTLs
        assert agent.heartbeat(lease["lease_id"]).status_code == 200
        time.sleep(0.3)
    agent.complete(lease["lease_id"]).raise_for_status()
    final = job(server, lease["job_id"])
    assert (final["status"], final["attempt"], final["infra_retries"]) == ("success", 1, 0)


def test_an_agent_reported_infrastructure_failure_is_retried_and_counted(server: ServerHandle, tmp_path: Path) -> None:
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"j": []}))
    with server.client() as api:
        api.post("/runs", json={"repository": str(path)}).raise_for_status()
    agent = ProtocolAgent.register(server, "trusted")
    first = agent.lease(wait_s=5)
    agent.complete(first["lease_id"], "infra", detail="runtime missing").raise_for_status()
    second = agent.lease(wait_s=5)
    assert second is not None and second["job_id"] == first["job_id"] and second["attempt"] == 2
    agent.complete(second["lease_id"], "success").raise_for_status()
    final = job(server, first["job_id"])
    assert (final["status"], final["infra_retries"]) == ("success", 1)


def test_a_released_job_is_requeued_without_counting_a_failure(server: ServerHandle, tmp_path: Path) -> None:
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"j": []}))
    with server.client() as api:
        api.post("/runs", json={"repository": str(path)}).raise_for_status()
    draining = ProtocolAgent.register(server, "trusted", name="draining")
    lease = draining.lease(wait_s=5)
    assert draining.post(f"/leases/{lease['lease_id']}/release", {"reason": "SIGTERM"}).status_code == 204
    other = ProtocolAgent.register(server, "trusted", name="other")
    again = other.lease(wait_s=5)
    assert again is not None and again["job_id"] == lease["job_id"] and again["attempt"] == 2
    assert job(server, lease["job_id"])["infra_retries"] == 0


def test_a_job_past_its_timeout_is_stopped_by_the_server(server_factory: Callable[..., ServerHandle], tmp_path: Path) -> None:
    server = server_factory(job_timeout_grace_s=0)
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"slow": []}, extra={"slow": "timeout: 1s"}))
    with server.client() as api:
        api.post("/runs", json={"repository": str(path)}).raise_for_status()
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=5)
    wait_for(lambda: job(server, lease["job_id"])["status"] == "timeout")
    assert agent.heartbeat(lease["lease_id"]).json()["code"] == "lease_lost"
