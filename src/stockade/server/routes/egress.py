"""A run's egress: every connection its jobs' proxies decided, and the allowlist it needed."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.egress.events import suggest
from stockade.egress.interface import Decision, EgressEvent, EventKind, Reason
from stockade.server.auth import viewer
from stockade.server.models import EgressEventOut, EgressList, EgressSuggestion
from stockade.server.state import ServerState, get_state
from stockade.store import runs as store_runs
from stockade.store.credentials import Principal
from stockade.store.egress import read_run_egress
from stockade.store.records import EgressEventRecord

router = APIRouter(prefix="/api/v1", tags=["egress"])

# Refusals no allowlist entry can lift: the address rules (or the request itself) said no.
_NOT_BY_ALLOWLIST = frozenset({Reason.FORBIDDEN_ADDRESS, Reason.DENIED_ADDRESS,
                               Reason.RESERVED_HOST, Reason.BAD_HOST})


def _event(record: EgressEventRecord) -> EgressEvent | None:
    try:
        kind, decision, reason = (EventKind(record.kind), Decision(record.decision),
                                  Reason(record.reason))
    except ValueError:
        return None  # written by a newer agent: shown, but not reasoned about
    return EgressEvent(
        job_id=record.job_id, run_id=record.run_id, kind=kind, host=record.host,
        port=record.port, ip=record.ip, decision=decision, would_deny=record.would_deny,
        reason=reason, detail=record.detail, rule=record.rule, bytes_up=record.bytes_up,
        bytes_down=record.bytes_down, duration_s=record.duration_s, started_at=record.ts,
    )


@router.get("/runs/{run_id}/egress", response_model=EgressList)
async def run_egress(
    run_id: str, state: ServerState = Depends(get_state), _: Principal = Depends(viewer)
) -> EgressList:
    """Every egress decision of the run's jobs, oldest first."""
    await state.call(store_runs.get_run, state.db, run_id)  # 404 for an unknown run
    found = await state.call(read_run_egress, state.db, run_id)
    return EgressList(
        run_id=run_id,
        events=[EgressEventOut.of(job, e) for job, e in found],
        allowed=sum(1 for _, e in found if e.decision == "allow"),
        denied=sum(1 for _, e in found if e.decision == "deny"),
        would_deny=sum(1 for _, e in found if e.would_deny),
    )


@router.get("/runs/{run_id}/egress/suggest", response_model=EgressSuggestion)
async def run_egress_suggest(
    run_id: str, state: ServerState = Depends(get_state), _: Principal = Depends(viewer)
) -> EgressSuggestion:
    """The allowlist entries that would have let this run's traffic through (audit to enforce)."""
    await state.call(store_runs.get_run, state.db, run_id)
    found = await state.call(read_run_egress, state.db, run_id)
    events = [e for e in (_event(record) for _, record in found) if e is not None]
    refused = sorted({f"{e.host}:{e.port}" for e in events
                      if e.decision is Decision.DENY and e.reason in _NOT_BY_ALLOWLIST})
    return EgressSuggestion(run_id=run_id, allow=list(suggest(events)), refused=refused)
