"""AES-GCM envelopes: a ciphertext opens only with its key and its own name and class."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from stockade.secrets import DecryptionFailed, MasterKey, MasterKeyError, Sealed, aad, seal, unseal
from stockade.secrets.masterkey import from_base64, from_file, load_master_key


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    key = MasterKey.generate()
    a = seal(key, b"value-123456", aad("secret", "NAME", "ci"))
    b = seal(key, b"value-123456", aad("secret", "NAME", "ci"))
    assert a.nonce != b.nonce and a.ciphertext != b.ciphertext and len(a.nonce) == 12
    assert unseal(key, a, aad("secret", "NAME", "ci")) == b"value-123456"


def test_wrong_key_wrong_name_wrong_class_and_tampering_all_fail() -> None:
    key = MasterKey.generate()
    sealed = seal(key, b"value-123456", aad("secret", "NAME", "ci"))
    with pytest.raises(DecryptionFailed):
        unseal(MasterKey.generate(), sealed, aad("secret", "NAME", "ci"))
    with pytest.raises(DecryptionFailed):
        unseal(key, sealed, aad("secret", "OTHER", "ci"))
    with pytest.raises(DecryptionFailed):
        unseal(key, sealed, aad("secret", "NAME", "deploy"))
    with pytest.raises(DecryptionFailed):
        unseal(key, sealed, aad("signing-key", "NAME", "ci"))
    flipped = bytearray(sealed.ciphertext)
    flipped[0] ^= 1
    with pytest.raises(DecryptionFailed):
        unseal(key, Sealed(sealed.nonce, bytes(flipped)), aad("secret", "NAME", "ci"))
    with pytest.raises(DecryptionFailed):
        unseal(key, Sealed(bytes(12), sealed.ciphertext), aad("secret", "NAME", "ci"))


def test_a_master_key_never_shows_in_repr() -> None:
    key = MasterKey(b"k" * 32)
    assert "kkkk" not in repr(key)
    with pytest.raises(ValueError):
        MasterKey(b"short")


def test_the_key_file_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "home" / "master.key"
    first = from_file(path)
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32
    assert from_file(path) == first


def test_a_key_file_others_can_read_or_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"x" * 32)
    path.chmod(0o640)
    with pytest.raises(MasterKeyError, match="group or others"):
        from_file(path)
    path.chmod(0o600)
    path.write_bytes(b"x" * 31)
    with pytest.raises(MasterKeyError, match="31 bytes"):
        from_file(path)


def test_the_environment_key_wins_and_is_checked(tmp_path: Path) -> None:
    raw = bytes(range(32))
    assert load_master_key(base64.b64encode(raw).decode(), tmp_path / "unused").raw == raw
    assert not (tmp_path / "unused").exists()
    with pytest.raises(MasterKeyError, match="base64"):
        from_base64("not base64!")
    with pytest.raises(MasterKeyError, match="16 bytes"):
        from_base64(base64.b64encode(b"x" * 16).decode())
