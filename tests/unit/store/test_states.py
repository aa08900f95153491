"""The job state machine: one table of transitions, enforced by one function."""

from __future__ import annotations

import pytest

from stockade.store.states import (
    FINAL_JOB,
    TRANSITIONS,
    IllegalTransition,
    JobStatus,
    RunStatus,
    check_transition,
    derive_run_status,
)


def test_every_status_has_a_row_and_final_states_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(JobStatus)
    for final in FINAL_JOB:
        assert TRANSITIONS[final] == frozenset()


@pytest.mark.parametrize(
    ("src", "dst"),
    [("pending", "queued"), ("queued", "leased"), ("leased", "running"), ("running", "success"),
     ("running", "queued"), ("leased", "lost"), ("pending", "skipped"), ("queued", "cancelled")],
)
def test_allowed_transitions_pass(src: str, dst: str) -> None:
    assert check_transition(src, dst) == JobStatus(dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("success", "queued"), ("lost", "queued"), ("pending", "running"), ("queued", "success"),
     ("cancelled", "running"), ("denied", "queued")],
)
def test_illegal_transitions_raise_with_what_is_allowed(src: str, dst: str) -> None:
    with pytest.raises(IllegalTransition) as err:
        check_transition(src, dst)
    assert err.value.code == "illegal_transition"


def test_run_status_is_derived_from_its_jobs() -> None:
    def derive(*statuses: str, awaiting: bool = False, cancel: bool = False) -> RunStatus:
        return derive_run_status(list(statuses), awaiting_approval=awaiting, cancel_requested=cancel)

    assert derive("queued", "pending") == RunStatus.QUEUED
    assert derive("pending", awaiting=True) == RunStatus.AWAITING_APPROVAL
    assert derive("success", "pending") == RunStatus.RUNNING
    assert derive("success", "success") == RunStatus.SUCCESS
    assert derive("success", "failed", "skipped") == RunStatus.FAILED
    assert derive("success", "cancelled") == RunStatus.CANCELLED
    assert derive("failed", "cancelled", cancel=True) == RunStatus.CANCELLED
    assert derive("denied") == RunStatus.FAILED
