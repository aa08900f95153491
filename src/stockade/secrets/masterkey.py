"""Where the master key comes from: ``STOCKADE_MASTER_KEY`` (base64 of 32 bytes) or a file.

The file (default ``$STOCKADE_HOME/master.key``) is created on first start with 32 random bytes,
mode 0600. An existing file readable or writable by group or others, or of the wrong size, is
refused: the key that protects every secret must not be readable by anyone else on the host.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from stockade.errors import InvalidInput
from stockade.secrets.crypto import KEY_BYTES, MasterKey


class MasterKeyError(InvalidInput):
    code = "invalid_master_key"


def from_base64(text: str) -> MasterKey:
    """The key given as base64 text (the environment variable)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyError(
            "STOCKADE_MASTER_KEY is not valid base64",
            hint="generate one with: head -c 32 /dev/urandom | base64",
        ) from exc
    if len(raw) != KEY_BYTES:
        raise MasterKeyError(
            f"STOCKADE_MASTER_KEY decodes to {len(raw)} bytes, not {KEY_BYTES}",
            hint="generate one with: head -c 32 /dev/urandom | base64",
        )
    return MasterKey(raw)


def from_file(path: Path, *, create: bool = True) -> MasterKey:
    """The key in ``path``, created (0600, random) when missing and ``create`` is true."""
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first; read theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(os.urandom(KEY_BYTES))
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise MasterKeyError(
            f"master key file {path} does not exist",
            hint="restore it from your backup, or set STOCKADE_MASTER_KEY",
        ) from exc
    if info.st_mode & 0o077:
        raise MasterKeyError(
            f"master key file {path} is accessible by group or others "
            f"(mode {stat.filemode(info.st_mode)})",
            hint=f"chmod 600 {path}: only the server's user may read the master key",
        )
    raw = path.read_bytes()
    if len(raw) != KEY_BYTES:
        raise MasterKeyError(
            f"master key file {path} holds {len(raw)} bytes, not {KEY_BYTES}",
            hint="restore the right file from your backup; never edit it",
        )
    return MasterKey(raw)


def load_master_key(env_value: str, path: Path) -> MasterKey:
    """The environment's key if set, else the file's (created on first start)."""
    return from_base64(env_value) if env_value else from_file(path)
