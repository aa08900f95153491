"""The claims of a job ID token, built from what the server knows about the job. Pure.

``sub`` forms, most specific first: ``repo:OWNER/NAME:environment:ENV`` when the job has an
environment, ``repo:OWNER/NAME:pull_request`` for pull requests, else ``repo:OWNER/NAME:ref:REF``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

PIPELINE_PATH = ".stockade.yml"
MAX_LIFETIME_S = 600.0  # ten minutes, whatever the setting says

CLAIMS_SUPPORTED = (
    "iss", "sub", "aud", "exp", "iat", "nbf", "jti",
    "repository", "repository_id", "repository_owner", "ref", "ref_type", "sha", "event_name",
    "run_id", "run_attempt", "job", "job_id", "tier", "pool", "runner_id", "image_digest",
    "pipeline_path", "environment",
)


@dataclass(frozen=True)
class JobIdentity:
    """Who the token speaks for: one attempt of one job, as the server recorded it."""

    repository: str  # OWNER/NAME (or the local path of a local repository)
    ref: str  # refs/heads/main, refs/tags/v1.0, refs/pull/7/head
    sha: str
    event_name: str  # push | pull_request | manual
    run_id: str
    run_attempt: int  # the job's attempt (1 for the first, +1 per requeue)
    job: str  # the job's name in the pipeline
    job_id: str
    tier: str
    pool: str
    runner_id: str  # the agent holding the lease
    image_digest: str | None = None
    environment: str | None = None
    repository_id: str | None = None  # the forge's id; derived from the name when None


def ref_type(ref: str) -> str:
    """``branch``, ``tag``, ``pull_request`` or ``other``, from the full ref."""
    if ref.startswith("refs/heads/"):
        return "branch"
    if ref.startswith("refs/tags/"):
        return "tag"
    if ref.startswith("refs/pull/"):
        return "pull_request"
    return "other"


def derived_repository_id(repository: str) -> str:
    """A stable id for a repository with no forge id: decimal digits of a SHA-256 of its name
    (48 bits, so it stays exact as a JSON number anywhere)."""
    digest = hashlib.sha256(b"stockade-repository:" + repository.encode()).digest()
    return str(int.from_bytes(digest[:6], "big"))


def subject(identity: JobIdentity) -> str:
    """The ``sub`` claim (environment > pull_request > ref)."""
    base = f"repo:{identity.repository}"
    if identity.environment:
        return f"{base}:environment:{identity.environment}"
    if identity.event_name == "pull_request":
        return f"{base}:pull_request"
    return f"{base}:ref:{identity.ref}"


def lifetime(requested_s: float) -> float:
    """The token lifetime to use: the setting, capped at ten minutes."""
    return max(1.0, min(float(requested_s), MAX_LIFETIME_S))


def build_claims(
    identity: JobIdentity, *, issuer: str, audience: str, now: float, lifetime_s: float, jti: str
) -> dict[str, Any]:
    """Every claim of one token for one audience; times are whole seconds."""
    issued = int(now)
    owner = identity.repository.split("/", 1)[0] if "/" in identity.repository else ""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject(identity),
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime(lifetime_s)),
        "jti": jti,
        "repository": identity.repository,
        "repository_id": identity.repository_id or derived_repository_id(identity.repository),
        "repository_owner": owner,
        "ref": identity.ref,
        "ref_type": ref_type(identity.ref),
        "sha": identity.sha,
        "event_name": identity.event_name,
        "run_id": identity.run_id,
        "run_attempt": str(identity.run_attempt),
        "job": identity.job,
        "job_id": identity.job_id,
        "tier": identity.tier,
        "pool": identity.pool,
        "runner_id": identity.runner_id,
        "image_digest": identity.image_digest,
        "pipeline_path": PIPELINE_PATH,
    }
    if identity.environment:
        claims["environment"] = identity.environment
    return claims
