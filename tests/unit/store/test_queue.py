"""Planning, dispatch order, dependents, leases and logs at the store level."""

from __future__ import annotations

import pytest

from stockade.store import credentials, dispatch, runs
from stockade.store.database import Database
from stockade.store.logs import Chunk, Step, append_logs, read_job_logs
from stockade.store.runs import ReplayedDelivery
from tests.unit.store.helpers import job, plan

RETRY = dispatch.RetryPolicy(lease_ttl_s=30, max_infra_retries=1, timeout_grace_s=60)


def agent(db: Database, pool: str = "p") -> str:
    token, _ = credentials.create_registration_token(db, pool, 60, "tok_admin")
    agent_id, _ = credentials.register_agent(db, token, "a", pool)
    return agent_id


def statuses(db: Database, run_id: str) -> dict[str, str]:
    return {j.name: j.status for j in runs.get_run(db, run_id).jobs}


def test_dispatch_takes_priority_first_then_age(db: Database) -> None:
    runs.create_run(db, plan(job("old-low")))
    runs.create_run(db, plan(job("high"), priority=5))
    runs.create_run(db, plan(job("new-low")))
    aid = agent(db)
    order = [dispatch.claim_job(db, "p", aid, 30) for _ in range(3)]
    assert [c.job.name for c in order if c] == ["high", "old-low", "new-low"]
    assert dispatch.claim_job(db, "p", aid, 30) is None


def test_a_pool_only_sees_its_own_jobs(db: Database) -> None:
    runs.create_run(db, plan(job("elsewhere", pool="other")))
    assert dispatch.claim_job(db, "p", agent(db), 30) is None


def test_denied_jobs_skip_their_dependents_at_plan_time(db: Database) -> None:
    run_id, effects = runs.create_run(
        db, plan(job("a", denied="egress is not supported yet"), job("b", "a"), job("c", "b"), job("d"))
    )
    assert statuses(db, run_id) == {"a": "denied", "b": "skipped", "c": "skipped", "d": "queued"}
    assert effects.pools == {"p"}


def test_approval_holds_every_job_until_approved(db: Database) -> None:
    run_id, effects = runs.create_run(db, plan(job("a"), approval=True))
    assert runs.get_run(db, run_id).status == "awaiting_approval"
    assert effects.pools == set()
    with pytest.raises(Exception, match="cannot approve"):
        runs.approve_run(db, run_id, "alice")
    assert runs.approve_run(db, run_id, "bob").pools == {"p"}
    assert statuses(db, run_id) == {"a": "queued"}


def test_a_delivery_id_is_accepted_once(db: Database) -> None:
    runs.create_run(db, plan(job("a"), delivery="d-1"))
    with pytest.raises(ReplayedDelivery):
        runs.create_run(db, plan(job("a"), delivery="d-1"))
    assert runs.count_runs(db) == 1


def test_an_expired_lease_is_retried_then_lost(db: Database) -> None:
    run_id, _ = runs.create_run(db, plan(job("a"), job("b", "a")))
    aid = agent(db)
    first = dispatch.claim_job(db, "p", aid, lease_ttl_s=-1)  # already expired
    assert first is not None
    dispatch.reap(db, RETRY)
    retried = runs.get_job(db, first.job.id)
    assert (retried.status, retried.attempt, retried.infra_retries) == ("queued", 2, 1)
    second = dispatch.claim_job(db, "p", aid, lease_ttl_s=-1)
    assert second is not None and second.job.attempt == 2
    dispatch.reap(db, RETRY)
    assert statuses(db, run_id) == {"a": "lost", "b": "skipped"}
    assert runs.get_run(db, run_id).status == "failed"


def test_completion_needs_every_log_chunk_and_ack_reports_gaps(db: Database) -> None:
    runs.create_run(db, plan(job("a")))
    aid = agent(db)
    claimed = dispatch.claim_job(db, "p", aid, 30)
    assert claimed is not None and claimed.job.lease_id is not None
    lid = claimed.job.lease_id

    def send(*seqs: int) -> int:
        chunks = [Chunk(s, 0, "stdout", 0.0, f"line {s}") for s in seqs]
        return append_logs(db, lid, aid, "p", chunks)[0]

    assert send(1, 2) == -1  # nothing from seq 0 yet
    assert send(0) == 2
    assert send(4, 5) == 2
    with pytest.raises(dispatch.LogsIncomplete):
        dispatch.complete(db, lid, aid, "p", outcome="success", detail="", last_seq=5, policy=RETRY)
    assert send(3, 3, 4) == 5
    dispatch.complete(db, lid, aid, "p", outcome="success", detail="", last_seq=5, policy=RETRY)
    assert [x.seq for x in read_job_logs(db, claimed.job.id)] == [1, 2, 0, 4, 5, 3]


def test_step_reports_in_a_log_batch_wait_for_every_line_before_them(db: Database) -> None:
    run_id, _ = runs.create_run(db, plan(job("a")))
    aid = agent(db)
    claimed = dispatch.claim_job(db, "p", aid, 30)
    assert claimed is not None and claimed.job.lease_id is not None
    lid = claimed.job.lease_id
    done = [Step(0, "a", "success", exit_code=0, duration_s=0.1)]

    def line(seq: int) -> Chunk:
        return Chunk(seq, 0, "stdout", 0.0, f"line {seq}")

    def step_status() -> list[str]:
        return [s.status for s in runs.get_run(db, run_id).jobs[0].steps]

    assert append_logs(db, lid, aid, "p", [line(1)], reports=done)[:2] == (-1, 0)  # seq 0 missing
    assert step_status() == []
    assert append_logs(db, lid, aid, "p", [line(0), line(1)], reports=done)[:2] == (1, 1)
    assert step_status() == ["success"]
    assert append_logs(db, lid, aid, "p", [line(0), line(1)], reports=done)[:2] == (1, 1)  # resend
    assert step_status() == ["success"]
    assert [x.seq for x in read_job_logs(db, claimed.job.id)] == [1, 0]
