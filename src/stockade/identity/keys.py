"""Signing keys for job ID tokens: generate (ES256 default, RS256), load, publish as JWK. Pure.

A key's ``kid`` is its RFC 7638 thumbprint, so it names the public key and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from stockade.errors import InvalidInput

ALGORITHMS = ("ES256", "RS256")
DEFAULT_ALGORITHM = "ES256"
RSA_BITS = 3072

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class KeyMaterial:
    """A private signing key as stored (PKCS#8 PEM, encrypted at rest by the store)."""

    kid: str
    alg: str
    private_pem: bytes = field(repr=False)

    def private_key(self) -> PrivateKey:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"key {self.kid} is neither EC nor RSA")
        return key


def check_algorithm(alg: str) -> str:
    """``alg`` if Stockade signs with it, else a clear error naming the choices."""
    if alg not in ALGORITHMS:
        raise InvalidInput(
            f"unsupported ID token algorithm {alg!r}",
            hint=f"set STOCKADE_ID_TOKEN_ALG to one of {', '.join(ALGORITHMS)}",
        )
    return alg


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return dict(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))
    return dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def generate(alg: str = DEFAULT_ALGORITHM) -> KeyMaterial:
    """A fresh private key for ``alg`` (P-256 for ES256, RSA-3072 for RS256)."""
    check_algorithm(alg)
    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if alg == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return KeyMaterial(thumbprint(_public_jwk(key)), alg, pem)


def public_jwk(material: KeyMaterial) -> dict[str, Any]:
    """The public half as a JWK for the JWKS: kty, crv/x/y or n/e, kid, alg, use "sig"."""
    jwk = _public_jwk(material.private_key())
    jwk.pop("key_ops", None)
    return {**jwk, "kid": material.kid, "alg": material.alg, "use": "sig"}
