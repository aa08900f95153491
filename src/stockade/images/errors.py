"""Errors of the image store and image builds, as the CLI and the agent see them."""

from __future__ import annotations

from stockade.errors import InfrastructureError, InvalidInput, NotFound


class ImageNotFound(NotFound):
    """A name or digest that the store does not hold."""

    code = "image_not_found"

    def __init__(self, ref: str) -> None:
        super().__init__(f"no image {ref!r} in the image store", hint="run `stockade image build`")
        self.ref = ref


class InvalidImageRef(InvalidInput):
    """A reference that is neither a valid name nor a ``sha256:<64 hex>`` digest."""

    code = "invalid_image_ref"


class ImageBuildError(InfrastructureError):
    """mmdebstrap, umoci or the layout writer failed; the store is left unchanged."""

    code = "image_build_failed"


class ImageStoreCorrupt(InfrastructureError):
    """A blob does not match its digest, or the layout's JSON is not what we wrote."""

    code = "image_store_corrupt"
    retryable = False
