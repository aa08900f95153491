"""Write a root filesystem directory as one deterministic OCI layer (``tar+gzip``).

Determinism is what makes "same package set and SOURCE_DATE_EPOCH, same digest" hold: entries in
byte order of their paths, numeric owners without names, modification times clamped to the epoch,
no access/change times, and a gzip header with mtime 0 and no file name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Device nodes belong to the runtime (it mounts its own /dev), and /proc and /sys are mount points:
# their directories are kept, their contents never enter the image.
_MOUNT_POINTS = frozenset({"dev", "proc", "sys"})
# Fixed because the level changes the compressed bytes (and so the digest); 1 rather than zlib's
# default 6 because it halves the build's archive step for a layer only ~10% larger.
_GZIP_LEVEL = 1


@dataclass(frozen=True)
class LayerDigests:
    """What the manifest and the config need to know about a written layer."""

    digest: str  # sha256 of the compressed blob (manifest layers[].digest)
    size: int  # bytes of the compressed blob
    diff_id: str  # sha256 of the uncompressed tar (config rootfs.diff_ids)
    uncompressed_size: int


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, sink: BinaryIO | gzip.GzipFile) -> None:
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        self._sink.flush()


def _walk(root: Path, rel: str = "") -> Iterator[str]:
    """Relative paths under ``root`` in byte order, each directory before what it holds."""
    base = root / rel if rel else root
    names = sorted(os.listdir(base), key=os.fsencode)
    for name in names:
        path = f"{rel}/{name}" if rel else name
        yield path
        full = root / path
        if full.is_dir() and not full.is_symlink() and path not in _MOUNT_POINTS:
            yield from _walk(root, path)


def write_layer(
    rootfs: Path,
    out: Path,
    *,
    epoch: int,
    progress: Callable[[int], None] | None = None,
) -> LayerDigests:
    """Archive ``rootfs`` into ``out`` (gzip'd tar) and return its digests.

    ``progress`` is called now and then with the number of uncompressed bytes written so far.
    """
    with out.open("wb") as raw:
        compressed = _HashingWriter(raw)
        with gzip.GzipFile(
            fileobj=compressed,  # type: ignore[arg-type]
            mode="wb",
            mtime=0,
            filename="",
            compresslevel=_GZIP_LEVEL,
        ) as gz:
            plain = _HashingWriter(gz)
            with tarfile.open(  # type: ignore[call-overload]
                fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT
            ) as tar:
                reported = 0
                for rel in _walk(rootfs):
                    _add(tar, rootfs / rel, rel, epoch)
                    if progress is not None and plain.size - reported > 16 * 1024 * 1024:
                        reported = plain.size
                        progress(plain.size)
    return LayerDigests(
        digest="sha256:" + compressed.hash.hexdigest(),
        size=compressed.size,
        diff_id="sha256:" + plain.hash.hexdigest(),
        uncompressed_size=plain.size,
    )


def _add(tar: tarfile.TarFile, path: Path, arcname: str, epoch: int) -> None:
    info = tar.gettarinfo(str(path), arcname)
    if info is None:  # sockets and fifos have no place in an image
        return
    info.uname = ""
    info.gname = ""
    info.mtime = min(int(info.mtime), epoch)
    info.pax_headers = {}
    if info.isreg():
        with path.open("rb") as data:
            tar.addfile(info, data)
    else:
        tar.addfile(info)
