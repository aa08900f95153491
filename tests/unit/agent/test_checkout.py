"""Checkout gives the sandbox the exact commit, a working .git, and nothing of the agent's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stockade.agent.checkout import CheckoutError, RepoCache, WorkspaceSources, redact_url

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "origin"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "a.txt").write_text("first\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "first")
    (path / "a.txt").write_text("second\n")
    git(path, "commit", "-q", "-am", "second")
    return path


def test_workspace_is_detached_at_the_exact_commit(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD~1")
    cache = RepoCache(tmp_path / "cache")
    ws = cache.materialise(str(repo), first, tmp_path / "ws")
    assert (ws / "a.txt").read_text() == "first\n"
    assert git(ws, "rev-parse", "HEAD") == first
    assert git(ws, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
    assert git(ws, "status", "--porcelain") == ""
    assert git(ws, "log", "--format=%s") == "first"


def test_workspace_git_is_self_contained_and_names_no_remote(repo: Path, tmp_path: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    cache = RepoCache(tmp_path / "cache")
    ws = cache.materialise(str(repo), sha, tmp_path / "ws")
    assert git(ws, "remote") == ""
    config = (ws / ".git" / "config").read_text()
    assert str(repo) not in config and str(tmp_path / "cache") not in config
    assert not (ws / ".git" / "objects" / "info" / "alternates").exists()
    # Still a working repository once the mirror is gone (as inside the sandbox).
    import shutil

    shutil.rmtree(tmp_path / "cache")
    assert git(ws, "cat-file", "-p", "HEAD:a.txt") == "second"


def test_commit_on_no_branch_is_fetched(repo: Path, tmp_path: Path) -> None:
    tree = git(repo, "write-tree")
    dangling = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "snapshot")
    cache = RepoCache(tmp_path / "cache")
    ws = cache.materialise(str(repo), dangling, tmp_path / "ws")
    assert git(ws, "rev-parse", "HEAD") == dangling


def test_mirror_is_fetched_only_when_the_commit_is_missing(repo: Path, tmp_path: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    cache = RepoCache(tmp_path / "cache")
    cache.materialise(str(repo), sha, tmp_path / "ws1")
    # The origin disappears: a second job of the same commit still checks out from the mirror.
    repo.rename(tmp_path / "moved")
    ws = cache.materialise(str(repo), sha, tmp_path / "ws2")
    assert git(ws, "rev-parse", "HEAD") == sha


def test_unknown_commit_is_a_checkout_error(repo: Path, tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache")
    with pytest.raises(CheckoutError):
        cache.materialise(str(repo), "0" * 40, tmp_path / "ws")


def test_credentials_in_urls_never_reach_errors(tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache")
    url = "http://user:s3cret-token@127.0.0.1:9/repo.git"
    with pytest.raises(CheckoutError) as info:
        cache.materialise(url, "1" * 40, tmp_path / "ws")
    assert "s3cret-token" not in str(info.value)
    assert redact_url(url) == "http://127.0.0.1:9/repo.git"


def test_jobs_of_one_commit_share_one_checkout(repo: Path, tmp_path: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    sources = WorkspaceSources(RepoCache(tmp_path / "cache"), tmp_path / "sources", keep=1)
    with sources.source(str(repo), sha) as first, sources.source(str(repo), sha) as second:
        assert first == second
        assert git(first, "rev-parse", "HEAD") == sha
    older = git(repo, "rev-parse", "HEAD~1")
    with sources.source(str(repo), older) as other:
        assert (other / "a.txt").read_text() == "first\n"
    # Only `keep` idle trees stay: the least recently used one is gone.
    assert not first.exists() and other.exists()


def test_failed_checkout_leaves_nothing_behind(repo: Path, tmp_path: Path) -> None:
    sources = WorkspaceSources(RepoCache(tmp_path / "cache"), tmp_path / "sources")
    with pytest.raises(CheckoutError), sources.source(str(repo), "2" * 40):
        pass
    assert list((tmp_path / "sources").glob("*")) == []
