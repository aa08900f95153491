"""Log lines are kept exactly once per (job, attempt, seq), whatever the agent resends."""

from __future__ import annotations

from pathlib import Path

from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo, pipeline_yaml


def leased(server: ServerHandle, tmp_path: Path) -> tuple[ProtocolAgent, dict]:
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"j": []}))
    with server.client() as api:
        api.post("/runs", json={"repository": str(path)}).raise_for_status()
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=5)
    assert lease is not None
    return agent, lease


def texts(server: ServerHandle, job_id: str) -> list[str]:
    with server.client() as api:
        return [line["text"] for line in api.get(f"/jobs/{job_id}/logs").json()["lines"]]


def test_a_resent_chunk_is_stored_once(server: ServerHandle, tmp_path: Path) -> None:
    agent, lease = leased(server, tmp_path)
    lid = lease["lease_id"]
    assert agent.log(lid, "a\n", "b\n").json()["acked_seq"] == 1
    assert agent.log(lid, "a\n", "b\n").json()["acked_seq"] == 1  # the same batch again
    assert agent.log(lid, "b\n", "c\n", start=1).json()["acked_seq"] == 2  # overlapping
    agent.complete(lid, last_seq=2).raise_for_status()
    assert texts(server, lease["job_id"]) == ["a\n", "b\n", "c\n"]


def test_the_ack_is_the_highest_contiguous_seq_and_completion_waits_for_gaps(
    server: ServerHandle, tmp_path: Path
) -> None:
    agent, lease = leased(server, tmp_path)
    lid = lease["lease_id"]
    assert agent.log(lid, "zero\n").json()["acked_seq"] == 0
    assert agent.log(lid, "two\n", start=2).json()["acked_seq"] == 0  # seq 1 is missing
    incomplete = agent.complete(lid, last_seq=2)
    assert incomplete.status_code == 409 and incomplete.json()["code"] == "logs_incomplete"
    assert agent.log(lid, "one\n", start=1).json()["acked_seq"] == 2
    assert agent.complete(lid, last_seq=2).status_code == 204
    assert agent.complete(lid, last_seq=2).status_code == 204  # a resent completion is harmless
    assert sorted(texts(server, lease["job_id"])) == ["one\n", "two\n", "zero\n"]


def test_logs_after_the_job_ended_are_refused(server: ServerHandle, tmp_path: Path) -> None:
    agent, lease = leased(server, tmp_path)
    agent.complete(lease["lease_id"]).raise_for_status()
    late = agent.log(lease["lease_id"], "late\n")
    assert late.status_code == 409 and late.json()["code"] == "lease_lost"
    assert texts(server, lease["job_id"]) == []
