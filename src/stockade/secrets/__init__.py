"""Secrets at rest and who may have them: AES-GCM envelopes under the master key, grants.

Pure but for :mod:`stockade.secrets.masterkey` (reads or creates the key file). The broker's
storage is :mod:`stockade.store.secrets`; its HTTP face is ``server/routes/secrets.py``.
"""

from stockade.secrets.crypto import (
    DecryptionFailed,
    MasterKey,
    Sealed,
    aad,
    seal,
    unseal,
)
from stockade.secrets.grants import GrantDecision, GrantRequest, decide_grant
from stockade.secrets.masterkey import MasterKeyError, load_master_key

__all__ = [
    "DecryptionFailed",
    "GrantDecision",
    "GrantRequest",
    "MasterKey",
    "MasterKeyError",
    "Sealed",
    "aad",
    "decide_grant",
    "load_master_key",
    "seal",
    "unseal",
]
