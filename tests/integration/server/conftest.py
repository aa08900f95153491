"""Fixtures for real-server tests; the helpers live in ``harness`` so other packages reuse them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server.harness import ServerHandle, make_repo, pipeline_yaml, running_server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerHandle]]:
    """``server_factory(**settings)`` starts a server; every one is stopped after the test."""
    started: list[ServerHandle] = []

    def start(**settings: Any) -> ServerHandle:
        settings.setdefault("lease_ttl_s", 30)
        settings.setdefault("reaper_interval_s", 0.2)
        handle = running_server(tmp_path / f"home{len(started)}", **settings)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture
def server(server_factory: Callable[..., ServerHandle]) -> ServerHandle:
    """A server with the default policy and settings suited to tests."""
    return server_factory()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One server for a module whose tests never take work from the queue (they cannot
    disturb each other); compare counts before and after rather than assume emptiness."""
    handle = running_server(
        tmp_path_factory.mktemp("shared") / "home",
        webhook_secret="test-webhook-secret",
        max_body_bytes=65536,
        registration_token_ttl_s=600,
    )
    yield handle
    handle.stop()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository whose one commit has build -> test."""
    return make_repo(tmp_path / "repo", pipeline_yaml({"build": [], "test": ["build"]}))
