"""Builders of planned runs for store tests."""

from __future__ import annotations

from stockade.store.records import PlannedJob, PlannedRun


def job(name: str, *needs: str, pool: str = "p", position: int = 0, denied: str | None = None) -> PlannedJob:
    return PlannedJob(name=name, position=position, tier="trusted", pool=pool, needs=tuple(needs),
                      payload="{}", timeout_s=60.0, denied=denied)


def plan(*jobs: PlannedJob, priority: int = 0, approval: bool = False, delivery: str | None = None) -> PlannedRun:
    return PlannedRun(
        repository="/repo", ref="refs/heads/main", sha="a" * 40, event="manual", actor="alice",
        fork=False, author_association="MEMBER", tier="trusted", pool="p", rule="r",
        policy_hash="sha256:x", reason="because", requires_approval=approval, priority=priority,
        pipeline="version: 1", jobs=tuple(jobs), delivery_id=delivery, delivery_event="push",
    )
