"""AES-256-GCM envelopes under the master key: what the database holds instead of a secret.

Each write draws a fresh random 96-bit nonce; the associated data binds the ciphertext to what it
is (its kind, name and class), so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stockade.errors import StockadeError

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionFailed(StockadeError):
    """A ciphertext did not authenticate: wrong master key, wrong row, or tampered bytes."""

    code = "decryption_failed"
    status = 500


@dataclass(frozen=True)
class MasterKey:
    """The 32-byte key that encrypts secrets and signing keys; never stored in the database."""

    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.raw) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes, not {len(self.raw)}")

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_BYTES))


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes  # includes the 16-byte GCM tag


def aad(kind: str, *parts: str) -> bytes:
    """Associated data naming what a ciphertext is, e.g. ``aad("secret", name, cls)``."""
    return "\x00".join(("stockade", "v1", kind, *parts)).encode()


def seal(key: MasterKey, plaintext: bytes, associated: bytes) -> Sealed:
    """Encrypt ``plaintext`` under ``key`` with a fresh random nonce, bound to ``associated``."""
    nonce = os.urandom(NONCE_BYTES)
    return Sealed(nonce, AESGCM(key.raw).encrypt(nonce, plaintext, associated))


def unseal(key: MasterKey, sealed: Sealed, associated: bytes) -> bytes:
    """Decrypt and authenticate; raise :class:`DecryptionFailed` if anything does not match."""
    try:
        return AESGCM(key.raw).decrypt(sealed.nonce, sealed.ciphertext, associated)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed(
            "a stored ciphertext does not decrypt under this master key",
            hint="the master key (STOCKADE_MASTER_KEY or its file) must be the one the data "
                 "was written with; restore it from your backup",
        ) from exc
