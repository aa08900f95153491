"""Stockade's OIDC issuer, pure parts: signing keys and their rotation, job token claims,
minting and verification, revocation matching, the discovery document.

Storage of keys (encrypted under the master key) and of revocations is in ``stockade.store``;
the HTTP endpoints are in ``stockade.server.routes.oidc`` and ``.agents``. See docs/identity.md.
"""

from stockade.identity.claims import (
    CLAIMS_SUPPORTED,
    MAX_LIFETIME_S,
    PIPELINE_PATH,
    JobIdentity,
    build_claims,
    derived_repository_id,
    lifetime,
    ref_type,
    subject,
)
from stockade.identity.discovery import discovery_document
from stockade.identity.keys import ALGORITHMS, KeyMaterial, generate, public_jwk
from stockade.identity.revocation import Revocation, revoked_by
from stockade.identity.tokens import InvalidToken, mint, verify

__all__ = [
    "ALGORITHMS",
    "CLAIMS_SUPPORTED",
    "MAX_LIFETIME_S",
    "PIPELINE_PATH",
    "InvalidToken",
    "JobIdentity",
    "KeyMaterial",
    "Revocation",
    "build_claims",
    "derived_repository_id",
    "discovery_document",
    "generate",
    "lifetime",
    "mint",
    "public_jwk",
    "ref_type",
    "revoked_by",
    "subject",
    "verify",
]
