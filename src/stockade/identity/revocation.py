"""Revocations of job tokens: by jti, job, run, agent (runner_id) or issue-time window. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stockade.errors import InvalidInput

KINDS = ("jti", "job", "run", "agent", "window")
# The claim each kind compares its value with.
_CLAIM = {"jti": "jti", "job": "job_id", "run": "run_id", "agent": "runner_id"}


@dataclass(frozen=True)
class Revocation:
    id: str
    kind: str
    value: str | None  # the jti, job id, run id or agent id; None for a window
    issued_after: float | None  # window: tokens issued at or after this...
    issued_before: float | None  # ...and at or before this (either end may be open)
    reason: str
    created_at: float
    created_by: str = ""


def check(kind: str, value: str | None, after: float | None, before: float | None) -> None:
    """Refuse a revocation that would mean nothing (or everything by accident)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown revocation kind {kind!r}", hint=f"one of {', '.join(KINDS)}")
    if kind == "window":
        if after is None and before is None:
            raise InvalidInput("a window revocation needs issued_after or issued_before",
                               hint="give the times between which the tokens were issued")
        if after is not None and before is not None and after > before:
            raise InvalidInput("issued_after is later than issued_before",
                               hint="swap the two times")
    elif not value:
        raise InvalidInput(f"a {kind} revocation needs a value", hint=f"give the {kind} id")


def matches(rev: Revocation, claims: Mapping[str, Any]) -> bool:
    """Whether ``rev`` covers the token with ``claims``."""
    if rev.kind == "window":
        issued = claims.get("iat")
        if not isinstance(issued, int | float):
            return True  # fail closed: a token without a time is in every window
        return (rev.issued_after is None or issued >= rev.issued_after) and (
            rev.issued_before is None or issued <= rev.issued_before
        )
    return claims.get(_CLAIM[rev.kind]) == rev.value


def revoked_by(revocations: Iterable[Revocation], claims: Mapping[str, Any]) -> Revocation | None:
    """The first revocation that covers the token, or None."""
    return next((r for r in revocations if matches(r, claims)), None)


def describe(rev: Revocation) -> str:
    """``job job_12ab`` or ``tokens issued between A and B``, for refusal reasons."""
    if rev.kind != "window":
        return f"{rev.kind} {rev.value}"
    return f"tokens issued between {rev.issued_after or '-inf'} and {rev.issued_before or 'now'}"
