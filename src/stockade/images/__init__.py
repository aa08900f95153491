"""Runner images: an OCI image store addressed by digest, and the recipe that builds the default.

Public surface: :class:`stockade.images.store.ImageStore` and ``ImageRecord``,
:func:`stockade.images.build.build_default_image`, and the errors in ``images.errors``.
See docs/images.md.
"""
