"""Turn a root filesystem tree into an image in the store: layer, config and manifest blobs.

Shared by every recipe (today the Debian one); the tree's origin does not matter here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stockade.images import oci
from stockade.images.layer import write_layer
from stockade.images.store import ImageStore


@dataclass(frozen=True)
class Assembled:
    """The manifest of an image just written to the store, and what its layer expands to."""

    manifest: oci.Descriptor
    uncompressed_size: int


def assemble_image(
    store: ImageStore,
    tree: Path,
    *,
    epoch: int,
    packages: oci.Packages,
    recipe: str,
    created_by: str,
    title: str,
    layer_progress: Callable[[int], None] | None = None,
) -> Assembled:
    """Write ``tree`` as a one-layer OCI image into ``store`` and record it under its digest tag.

    No name is moved: the caller tags the manifest once it is satisfied with the image.
    """
    scratch = store.scratch("layer-")
    try:
        layer_file = scratch / "layer.tar.gz"
        layer = write_layer(tree, layer_file, epoch=epoch, progress=layer_progress)
        store.put_blob_file(layer_file, layer.digest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    config = store.put_blob(
        oci.image_config(
            created=epoch,
            diff_id=layer.diff_id,
            packages=packages,
            recipe=recipe,
            created_by=created_by,
        )
    )
    manifest = store.put_blob(
        oci.image_manifest(
            config=oci.Descriptor(oci.MEDIA_CONFIG, config.digest, config.size),
            layers=[oci.Descriptor(oci.MEDIA_LAYER_GZIP, layer.digest, layer.size)],
            created=epoch,
            title=title,
        )
    )
    descriptor = oci.Descriptor(oci.MEDIA_MANIFEST, manifest.digest, manifest.size)
    store.add_manifest(descriptor)
    return Assembled(descriptor, layer.uncompressed_size)
