"""The image store: one OCI image layout, names that point to manifest digests, an unpack cache.

Layout under ``root`` (``$STOCKADE_HOME/images``)::

    oci/                  an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>)
                          index.json tags every manifest ``sha256-<hex>`` and each name once
    rootfs/<hex>/         unpacked root filesystem of manifest <hex>: root-owned, never written
                          again; sandboxes mount it read-only as the container root
    meta/<hex>/           what we know about an image but is not part of it: build.json now;
                          later its SBOM, scan results, signatures and channel history
    tmp/                  builds and unpacks in progress (same filesystem, so renames are atomic)
    .lock                 serialises writers of index.json and of the caches

Images are addressed by manifest digest; a name is only a pointer, moved atomically by a build.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stockade.images import oci
from stockade.images.errors import ImageNotFound, ImageStoreCorrupt, InvalidImageRef
from stockade.images.scratch import remove_tree
from stockade.images.unpack import unpack_rootfs


@dataclass(frozen=True)
class ImageRecord:
    """One stored image as users see it (``stockade image ls``) and as jobs pin it (``digest``)."""

    name: str | None  # the name pointing at it, None when no name does any more
    digest: str  # manifest digest, "sha256:<hex>"
    created: str  # RFC 3339, from SOURCE_DATE_EPOCH of the build
    size: int  # bytes stored: manifest + config + compressed layers
    packages: tuple[tuple[str, str], ...]  # (package, exact version), sorted
    recipe: str = ""  # hash of what was asked for (suite, packages, mirrors), see recipe.py


class ImageStore:
    """An OCI image layout on disk plus the read-only root filesystems unpacked from it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = root / "oci"
        self.blobs = self.layout / "blobs" / "sha256"
        self.rootfs_dir = root / "rootfs"
        self.meta_root = root / "meta"
        self.tmp = root / "tmp"
        self._records: dict[str, ImageRecord] = {}

    # -- reading -------------------------------------------------------------------------------

    def list(self) -> list[ImageRecord]:
        """Every stored image: named ones first (by name), then unnamed ones (by digest)."""
        entries = self._index_entries()
        named = {ref: digest for digest, ref in entries if not ref.startswith("sha256-")}
        digests = sorted({digest for digest, _ in entries})
        records = [self._record(digest, name) for name, digest in sorted(named.items())]
        pointed = set(named.values())
        records += [self._record(digest, None) for digest in digests if digest not in pointed]
        return records

    def resolve(self, ref: str) -> ImageRecord:
        """The image a name or a ``sha256:<hex>`` manifest digest refers to."""
        entries = self._index_entries()
        if oci.DIGEST_RE.match(ref):
            if any(digest == ref for digest, _ in entries):
                names = sorted(name for digest, name in entries if digest == ref)
                name = next((n for n in names if not n.startswith("sha256-")), None)
                return self._record(ref, name)
            raise ImageNotFound(ref)
        if oci.NAME_RE.match(ref) and not ref.startswith("sha256"):  # digest tags are internal
            for digest, name in entries:
                if name == ref:
                    return self._record(digest, name)
        raise ImageNotFound(ref)

    def rootfs(self, digest: str) -> Path:
        """The unpacked root filesystem of image ``digest``: unpacked once, shared read-only."""
        if not oci.DIGEST_RE.match(digest):
            raise ImageNotFound(digest)  # a name is not accepted here: callers pin digests
        target = self.rootfs_dir / digest.removeprefix("sha256:")
        if target.is_dir():  # only ever renamed into place whole, from a stored image
            return target
        self.resolve(digest)
        self._ensure_dirs()
        with self.lock():
            if not target.is_dir():
                unpack_rootfs(
                    self.layout, oci.digest_tag(digest), target, self.scratch("unpack-")
                )
        return target

    def read_blob(self, digest: str) -> bytes:
        """A small blob's bytes, checked against its digest."""
        if not oci.DIGEST_RE.match(digest):
            raise ImageStoreCorrupt(f"not a sha256 digest: {digest!r}")
        path = self.blobs / digest.removeprefix("sha256:")
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ImageStoreCorrupt(
                f"blob {digest} is missing from {self.layout}", hint="rebuild the image"
            ) from exc
        if oci.sha256_digest(data) != digest:
            raise ImageStoreCorrupt(
                f"blob {digest} does not match its digest", hint="rebuild the image"
            )
        return data

    def meta_dir(self, digest: str) -> Path:
        """The directory for facts kept beside an image (build info; later SBOM, scans)."""
        if not oci.DIGEST_RE.match(digest):
            raise ImageNotFound(digest)
        return self.meta_root / digest.removeprefix("sha256:")

    # -- writing (used by builds) -----------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's writer lock (across processes)."""
        self._ensure_dirs()
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def scratch(self, prefix: str) -> Path:
        """A fresh private directory on the store's filesystem for a build or an unpack.

        Its name carries our pid, so that scratch left by a killed process (a build's tree is
        hundreds of MB) is found and removed by the next caller.
        """
        self._ensure_dirs()
        self._sweep_scratch()
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=self.tmp))

    def _sweep_scratch(self) -> None:
        for entry in self.tmp.iterdir():
            match = _SCRATCH_PID.match(entry.name)
            if match and not _alive(int(match.group(1))):
                remove_tree(entry)

    def put_blob(self, data: bytes) -> oci.Descriptor:
        """Store a small blob (config, manifest); returns its descriptor (media type left empty)."""
        digest = oci.sha256_digest(data)
        path = self.blobs / digest.removeprefix("sha256:")
        if not path.exists():
            self._ensure_dirs()
            _atomic_write(path, data)
        return oci.Descriptor("", digest, len(data))

    def put_blob_file(self, source: Path, digest: str) -> None:
        """Move a file already hashed to ``digest`` into the blobs (kept if already there)."""
        self._ensure_dirs()
        path = self.blobs / digest.removeprefix("sha256:")
        if path.exists():
            source.unlink()
        else:
            os.chmod(source, 0o644)
            os.replace(source, path)

    def add_manifest(self, manifest: oci.Descriptor) -> None:
        """Record a manifest in index.json under its digest tag (umoci and skopeo need a tag)."""
        self._update_index(manifest, oci.digest_tag(manifest.digest))

    def tag(self, manifest: oci.Descriptor, name: str) -> None:
        """Point ``name`` at a manifest (atomically; the name's previous image stays stored)."""
        validate_name(name)
        self._update_index(manifest, name)

    def point(self, name: str, ref: str) -> ImageRecord:
        """Point ``name`` at the image ``ref`` (a name or digest) already in the store.

        The primitive behind channels: promoting canary to stable is pointing ``stable`` at
        canary's digest.
        """
        record = self.resolve(ref)
        size = len(self.read_blob(record.digest))
        self.tag(oci.Descriptor(oci.MEDIA_MANIFEST, record.digest, size), name)
        return self.resolve(name)

    def _update_index(self, manifest: oci.Descriptor, ref: str) -> None:
        with self.lock():
            current = self._index().get("manifests", [])
            sizes = {entry["digest"]: int(entry["size"]) for entry in current}
            sizes[manifest.digest] = manifest.size
            entries = [(digest, name) for digest, name in self._index_entries() if name != ref]
            entries.append((manifest.digest, ref))
            tag = oci.digest_tag(manifest.digest)
            if not any(name == tag for _, name in entries):
                entries.append((manifest.digest, tag))
            index = oci.image_index(
                [
                    (oci.Descriptor(oci.MEDIA_MANIFEST, digest, sizes[digest]), name)
                    for digest, name in entries
                ]
            )
            _atomic_write(self.layout / "index.json", index)

    # -- internals ------------------------------------------------------------------------------

    def _ensure_dirs(self) -> None:
        for path in (self.blobs, self.rootfs_dir, self.meta_root, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        # Whatever the umask: jobs' uids must be able to read the caches and never write them.
        for path in (self.root, self.layout, self.rootfs_dir):
            if path.stat().st_mode & 0o7777 != 0o755:
                path.chmod(0o755)
        marker = self.layout / "oci-layout"
        if not marker.exists():
            _atomic_write(marker, oci.layout_marker())
        if not (self.layout / "index.json").exists():
            _atomic_write(self.layout / "index.json", oci.image_index([]))

    def _index(self) -> dict[str, Any]:
        path = self.layout / "index.json"
        try:
            document: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {"manifests": []}
        except json.JSONDecodeError as exc:
            raise ImageStoreCorrupt(f"{path}: {exc}", hint="rebuild the image") from exc
        return document

    def _index_entries(self) -> builtins.list[tuple[str, str]]:
        """(manifest digest, ref.name) for every entry of index.json."""
        return [
            (entry["digest"], entry.get("annotations", {}).get(oci.ANN_REF_NAME, ""))
            for entry in self._index().get("manifests", [])
        ]

    def _record(self, digest: str, name: str | None) -> ImageRecord:
        # Blobs never change under their digest, so what they say is read (and verified) once.
        cached = self._records.get(digest)
        if cached is None:
            cached = self._records[digest] = self._read_record(digest)
        return replace(cached, name=name)

    def _read_record(self, digest: str) -> ImageRecord:
        raw = self.read_blob(digest)
        manifest = json.loads(raw)
        config_desc = manifest["config"]
        config = json.loads(self.read_blob(config_desc["digest"]))
        labels = config.get("config", {}).get("Labels") or {}
        size = (
            len(raw)
            + int(config_desc["size"])
            + sum(int(layer["size"]) for layer in manifest["layers"])
        )
        return ImageRecord(
            name=None,
            digest=digest,
            created=str(config.get("created", "")),
            size=size,
            packages=oci.decode_packages(labels.get(oci.LABEL_PACKAGES, "")),
            recipe=str(labels.get(oci.LABEL_RECIPE, "")),
        )


def validate_name(name: str) -> None:
    """Raise :class:`InvalidImageRef` unless ``name`` can name an image."""
    if not oci.NAME_RE.match(name) or name.startswith("sha256"):
        raise InvalidImageRef(
            f"invalid image name {name!r}",
            hint="use letters, digits and single '.', '_', '-' or '+' between them",
        )


_SCRATCH_PID = re.compile(r"^[a-z]+-(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
