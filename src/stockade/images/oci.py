"""Pure builders for the OCI image-spec documents we write, and the digests that name them.

Every document is serialised once, canonically (sorted keys, no spaces), and named by the sha256
of exactly those bytes; the same inputs therefore always give the same manifest digest.
See https://github.com/opencontainers/image-spec (image-layout.md, manifest.md, config.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYOUT_VERSION = "1.0.0"

ANN_REF_NAME = "org.opencontainers.image.ref.name"
ANN_CREATED = "org.opencontainers.image.created"
ANN_TITLE = "org.opencontainers.image.title"
ANN_DESCRIPTION = "org.opencontainers.image.description"
LABEL_PACKAGES = "org.stockade.image.packages"
LABEL_RECIPE = "org.stockade.image.recipe"

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# The image-layout grammar for ref.name components, restricted to what is safe as a file name.
NAME_RE = re.compile(r"^[A-Za-z0-9]+(?:(?:[-._+]|--)[A-Za-z0-9]+)*$")

Packages = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, its digest and its size in bytes."""

    media_type: str
    digest: str
    size: int

    def to_json(self, annotations: Mapping[str, str] | None = None) -> dict[str, object]:
        """The descriptor as it appears inside a manifest or an index."""
        body: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if annotations:
            body["annotations"] = dict(annotations)
        return body


def canonical_json(document: Mapping[str, object]) -> bytes:
    """The one byte form we write for a JSON document (so equal documents have equal digests)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(epoch: int) -> str:
    """A Unix time as RFC 3339 in UTC, the form OCI ``created`` fields use."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_packages(packages: Packages) -> str:
    """``name=version`` pairs, space separated (Debian names and versions hold neither)."""
    return " ".join(f"{name}={version}" for name, version in sorted(packages))


def decode_packages(text: str) -> Packages:
    """Inverse of :func:`encode_packages`."""
    pairs = (item.split("=", 1) for item in text.split())
    return tuple((name, version) for name, version in pairs)


def image_config(
    *,
    created: int,
    diff_id: str,
    packages: Packages,
    recipe: str,
    created_by: str,
) -> bytes:
    """The image config blob: platform, default environment, labels and the layer's diff_id."""
    stamp = rfc3339(created)
    document: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": stamp,
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
            ],
            "Cmd": ["/bin/bash"],
            "WorkingDir": "/",
            "Labels": {LABEL_PACKAGES: encode_packages(packages), LABEL_RECIPE: recipe},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": stamp, "created_by": created_by}],
    }
    return canonical_json(document)


def image_manifest(
    *, config: Descriptor, layers: Sequence[Descriptor], created: int, title: str
) -> bytes:
    """The image manifest blob naming the config and the layers by digest."""
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
        "annotations": {
            ANN_CREATED: rfc3339(created),
            ANN_TITLE: title,
            ANN_DESCRIPTION: "Stockade runner image (Debian bookworm, mmdebstrap minbase)",
        },
    }
    return canonical_json(document)


def image_index(entries: Sequence[tuple[Descriptor, str]]) -> bytes:
    """``index.json``: one manifest descriptor per (manifest, ref.name) pair, in a stable order."""
    ordered = sorted(entries, key=lambda entry: (entry[1], entry[0].digest))
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [desc.to_json({ANN_REF_NAME: ref}) for desc, ref in ordered],
    }
    return canonical_json(document)


def layout_marker() -> bytes:
    """The ``oci-layout`` file."""
    return canonical_json({"imageLayoutVersion": LAYOUT_VERSION})


def digest_tag(digest: str) -> str:
    """The ref.name under which every stored manifest stays addressable (``sha256-<hex>``)."""
    return digest.replace(":", "-", 1)
