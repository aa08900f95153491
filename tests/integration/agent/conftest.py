"""Fixtures of the agent and CLI tests. Real servers come from the server tests' fixtures (one way
to start them, shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TEST_HOME
from tests.integration.server.conftest import server_factory

__all__ = ["home", "server_factory"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A STOCKADE_HOME sharing the suite's image store (so no test builds the image)."""
    path = tmp_path / "home"
    path.mkdir()
    (path / "images").symlink_to((TEST_HOME / "images").resolve(), target_is_directory=True)
    return path
