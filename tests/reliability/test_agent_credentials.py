"""The real agent binary with wrong credentials: reused, expired or other-pool registration tokens
are refused (exit 2), and an agent never receives another pool's jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.agent.harness import (
    get,
    registration_token,
    start_agent,
    submit,
    wait_until,
)
from tests.integration.server.harness import ServerHandle, make_repo, pipeline_yaml

pytestmark = [pytest.mark.root]


def test_reused_registration_token_is_refused(
    server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    server = server_factory()
    token = registration_token(server, "trusted")
    first = start_agent(server, "trusted", tmp_path / "a1", token=token, name="first")
    try:
        wait_until(lambda: any(a["name"] == "first" for a in get(server, "/agents")["agents"]),
                   30, "the first agent to register")
        second = start_agent(server, "trusted", tmp_path / "a2", token=token, name="second")
        assert second.wait(30) == 2
        assert "registration refused" in second.log()
        assert token not in second.log() and token not in first.log()
    finally:
        assert first.terminate() == 0


def test_expired_registration_token_is_refused(
    server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    server = server_factory()
    token = registration_token(server, "trusted", ttl_s=1)
    time.sleep(2)
    agent = start_agent(server, "trusted", tmp_path / "a", token=token)
    assert agent.wait(30) == 2
    assert "registration refused" in agent.log()


def test_token_of_another_pool_is_refused(
    server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    server = server_factory()
    token = registration_token(server, "untrusted")
    agent = start_agent(server, "release", tmp_path / "a", token=token)
    assert agent.wait(30) == 2
    assert not any(a["pool"] == "release" for a in get(server, "/agents")["agents"])


def test_agent_never_gets_another_pools_jobs(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path
) -> None:
    server = server_factory()
    repo, sha = make_repo(tmp_path / "repo", pipeline_yaml({"build": []}))
    untrusted = start_agent(server, "untrusted", tmp_path / "a", name="untrusted-agent")
    try:
        run = submit(server, repo, sha)  # a manual run is classified `trusted`
        assert run["pool"] != "untrusted"
        time.sleep(3)
        job = get(server, f"/runs/{run['id']}")["jobs"][0]
        assert job["status"] == "queued"  # waiting for its own pool, untouched
    finally:
        assert untrusted.terminate() == 0
