"""Shared fixtures. Tests marked ``root`` need real sandboxes; they skip (saying why) when not root.

The default runner image is built once into ``$STOCKADE_TEST_HOME`` (``make image`` does it before
the suite; the fixture builds it if it is missing) and shared read-only by every test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
TEST_HOME = Path(os.environ.get("STOCKADE_TEST_HOME") or Path(__file__).parent.parent / ".stockade-test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(
        reason="needs root: real OCI sandboxes with cgroups, mounts and user namespaces (CI runs as root)"
    )
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def test_home() -> Path:
    TEST_HOME.mkdir(parents=True, exist_ok=True)
    return TEST_HOME


@pytest.fixture(scope="session")
def image_store(test_home: Path):  # type: ignore[no-untyped-def]
    """The image store holding the default runner image (built on first use)."""
    from stockade.images.build import build_default_image
    from stockade.images.store import ImageStore

    store = ImageStore(test_home / "images")
    if not any(rec.name == "default" for rec in store.list()):
        build_default_image(store)
    return store
