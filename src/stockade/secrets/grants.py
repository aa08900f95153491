"""Which secret classes a job may have: the policy's ``secret_grants`` and its tier. Pure.

A class is granted when the job's tier lists it in ``secret_classes`` AND some grant names the
class and the tier and matches the job's repository, ref and environment (a condition left out
matches anything). The untrusted tier is refused whatever the policy says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stockade.policy.globs import glob_match
from stockade.policy.values import SecretGrant

NEVER_GRANTED_TIER = "untrusted"


@dataclass(frozen=True)
class GrantRequest:
    """One secret class asked for by one job, with what the grants match on."""

    secret_class: str
    tier: str
    repository: str  # owner/name, as policy rules match it
    ref: str  # refs/heads/main, refs/tags/v1, refs/pull/7/merge ...
    environment: str | None


@dataclass(frozen=True)
class GrantDecision:
    granted: bool
    reason: str  # why, in words an operator can act on
    grant: int | None = None  # index of the matching grant in the policy's list


def _mismatch(grant: SecretGrant, req: GrantRequest) -> str | None:
    if req.tier not in grant.tiers:
        return f"tier {req.tier} is not one of {', '.join(grant.tiers)}"
    if grant.repositories is not None and not any(
        glob_match(p, req.repository) for p in grant.repositories
    ):
        return f"repository {req.repository} matches none of {', '.join(grant.repositories)}"
    if grant.refs is not None and not any(glob_match(p, req.ref) for p in grant.refs):
        return f"ref {req.ref} matches none of {', '.join(grant.refs)}"
    if grant.environments is not None and req.environment not in grant.environments:
        env = req.environment or "(none)"
        return f"environment {env} is not one of {', '.join(grant.environments)}"
    return None


def decide_grant(
    grants: Sequence[SecretGrant], tier_classes: Sequence[str], req: GrantRequest
) -> GrantDecision:
    """Whether ``req.secret_class`` is granted, given the policy's grants and the tier's
    ``secret_classes``; fails closed with the first reason it found."""
    if req.tier == NEVER_GRANTED_TIER:
        return GrantDecision(False, "the untrusted tier is never granted secrets")
    if req.secret_class not in tier_classes:
        return GrantDecision(
            False, f"tier {req.tier} does not list class {req.secret_class} in secret_classes"
        )
    reasons: list[str] = []
    for index, grant in enumerate(grants):
        if grant.secret_class != req.secret_class:
            continue
        why_not = _mismatch(grant, req)
        if why_not is None:
            return GrantDecision(True, f"secret_grants[{index}] grants class "
                                       f"{req.secret_class}", index)
        reasons.append(f"secret_grants[{index}]: {why_not}")
    if not reasons:
        return GrantDecision(False, f"no secret grant names class {req.secret_class}")
    return GrantDecision(False, "; ".join(reasons))
