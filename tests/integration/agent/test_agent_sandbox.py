"""What a job sees of the agent through the real agent binary: the exact commit with a working
.git, and nothing of the agent's credentials, URLs or host paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.agent.harness import (
    job_lines,
    registration_token,
    start_agent,
    submit,
    wait_run_final,
)
from tests.integration.server.harness import ServerHandle, make_repo

pytestmark = [pytest.mark.root]

PIPELINE = """\
version: 1
jobs:
  look:
    steps:
      - name: look around
        run: |
          echo "head $(git rev-parse HEAD)"
          echo "status [$(git status --porcelain)]"
          echo "remotes [$(git remote -v)]"
          git config --list
          env | sort
          cat hello.txt
"""


def test_job_gets_the_commit_and_none_of_the_agents_secrets(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path
) -> None:
    server = server_factory()
    repo, sha = make_repo(tmp_path / "repo", PIPELINE, {"hello.txt": "hello from the commit\n"})
    (repo / "hello.txt").write_text("uncommitted edit\n")  # the job must not see this
    token = registration_token(server, "trusted")
    agent = start_agent(server, "trusted", tmp_path / "agent", token=token)
    try:
        run = submit(server, repo, sha)
        final = wait_run_final(server, run["id"], timeout_s=120)
    finally:
        assert agent.terminate() == 0
    assert final["status"] == "success", final
    said = [line["text"] for line in job_lines(server, final["jobs"][0]["id"])]
    assert f"head {sha}" in said
    assert "status []" in said and "remotes []" in said
    assert "hello from the commit" in said
    everything = "\n".join(said)
    for secret in (token, server.admin_token, str(repo), str(tmp_path), server.url):
        assert secret not in everything
    assert "Bearer" not in everything
    assert token not in agent.log()
