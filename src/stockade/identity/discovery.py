"""The OpenID Provider metadata Stockade publishes (discovery document). Pure."""

from __future__ import annotations

from typing import Any

from stockade.identity.claims import CLAIMS_SUPPORTED
from stockade.identity.keys import ALGORITHMS

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
REVOCATIONS_PATH = "/.well-known/stockade-revocations.json"


def discovery_document(issuer: str) -> dict[str, Any]:
    """The document at ``/.well-known/openid-configuration`` for ``issuer`` (its exact ``iss``)."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": base + JWKS_PATH,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "scopes_supported": ["openid"],
        "stockade_revocations_uri": base + REVOCATIONS_PATH,
    }
