"""Minting and verifying job ID tokens (JWS compact, PyJWT). Pure.

Verification never trusts the token's header for the algorithm: the key is looked up by ``kid``
among the published keys and the token must use that key's own algorithm. So ``alg: none``,
HS256 signed with a public key (key confusion), an unknown ``kid`` and a token of another
algorithm are all refused before any signature is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from stockade.errors import Unauthorized
from stockade.identity.keys import ALGORITHMS, KeyMaterial

REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti")


class InvalidToken(Unauthorized):
    """A job token that does not verify (signature, issuer, audience, time or shape)."""

    code = "invalid_token"


def mint(material: KeyMaterial, claims: Mapping[str, Any]) -> str:
    """Sign ``claims`` with ``material``; the header names the key (``kid``) and ``typ: JWT``."""
    return jwt.encode(
        dict(claims),
        material.private_key(),
        algorithm=material.alg,
        headers={"kid": material.kid, "typ": "JWT"},
    )


def _refuse(why: str) -> InvalidToken:
    return InvalidToken(
        f"job token refused: {why}",
        hint="ask the agent for a fresh token (GET http://stockade.internal/token)",
    )


def verify(
    token: str,
    keys: Mapping[str, Mapping[str, Any]],
    *,
    issuer: str,
    audience: str,
    leeway_s: float = 0.0,
) -> dict[str, Any]:
    """The claims of ``token`` if it verifies against one of ``keys`` (public JWKs by kid) for
    exactly ``issuer`` and ``audience``; else :class:`InvalidToken` saying why."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _refuse("not a signed JWT") from exc
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(kid, str) or kid not in keys:
        raise _refuse("signed by a key this issuer does not publish")
    jwk = keys[kid]
    if alg != jwk.get("alg") or alg not in ALGORITHMS:
        raise _refuse(f"algorithm {alg!r} is not the key's own ({jwk.get('alg')})")
    try:
        public = jwt.PyJWK(dict(jwk)).key
        claims: dict[str, Any] = jwt.decode(
            token,
            public,
            algorithms=[str(alg)],
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _refuse("expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _refuse("not valid yet") from exc
    except jwt.InvalidAudienceError as exc:
        raise _refuse(f"not for audience {audience}") from exc
    except jwt.InvalidIssuerError as exc:
        raise _refuse("not from this issuer") from exc
    except jwt.InvalidSignatureError as exc:
        raise _refuse("bad signature") from exc
    except jwt.PyJWTError as exc:
        raise _refuse(type(exc).__name__) from exc
    return claims
