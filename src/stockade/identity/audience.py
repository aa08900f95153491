"""Whether a job may have a token for an audience: its declaration and its tier. Pure.

The secrets broker's audience is the exception: a job gets it when one of its steps declares
secrets, never otherwise, and no tier may list it (the policy refuses that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AudienceRefusal:
    reason: str
    hint: str


def audience_refusal(
    audience: str,
    *,
    secrets_audience: str,
    declared_id_token: bool,
    has_secret_steps: bool,
    tier: str,
    tier_audiences: Sequence[str] | None,
) -> AudienceRefusal | None:
    """Why a token for ``audience`` is refused to this job, or None when it is allowed.
    ``tier_audiences`` None means the tier is missing from the policy: refused."""
    if audience == secrets_audience:
        if has_secret_steps:
            return None
        return AudienceRefusal(
            f"no step of this job declares secrets, so it gets no {audience} token",
            "declare the secrets a step needs with `secrets: [NAME]` on that step",
        )
    if not declared_id_token:
        return AudienceRefusal(
            "the job did not declare id-token",
            "add `id-token: true` to the job in .stockade.yml",
        )
    if tier_audiences is None:
        return AudienceRefusal(f"tier {tier} is not in the current policy",
                               "ask the operator to fix the policy")
    if audience not in tier_audiences:
        allowed = ", ".join(tier_audiences) or "none"
        return AudienceRefusal(
            f"tier {tier} may not have tokens for audience {audience} (allowed: {allowed})",
            f"ask the operator to add {audience} to token_audiences of tier {tier} in the "
            "policy, if jobs of this tier should reach it",
        )
    return None
