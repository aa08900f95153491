"""The commit `stockade run` builds: HEAD when clean, else a snapshot; never touching the user's
branch, index or files; a project in a subdirectory becomes the commit's root."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.cli.snapshot import source_commit
from stockade.errors import InvalidInput
from tests.integration.server.harness import git, make_repo


def files_of(repo: Path, sha: str) -> list[str]:
    return sorted(git(repo, "ls-tree", "-r", "--name-only", sha).splitlines())


def test_clean_tree_runs_head(tmp_path: Path) -> None:
    repo, sha = make_repo(tmp_path / "r", "version: 1\n")
    source = source_commit(repo)
    assert (source.sha, source.snapshot, source.ref) == (sha, False, "refs/heads/main")


def test_dirty_tree_is_snapshotted_without_touching_the_user(tmp_path: Path) -> None:
    repo, head = make_repo(tmp_path / "r", "version: 1\n", {"a.txt": "committed\n"})
    (repo / "a.txt").write_text("edited\n")
    (repo / "new.txt").write_text("untracked\n")
    (repo / ".gitignore").write_text("ignored.txt\n")
    (repo / "ignored.txt").write_text("never\n")
    git(repo, "add", ".gitignore")  # something staged, too
    index_before = (repo / ".git" / "index").read_bytes()

    source = source_commit(repo)
    assert source.snapshot and source.sha != head
    assert git(repo, "show", f"{source.sha}:a.txt") == "edited"
    assert files_of(repo, source.sha) == [".gitignore", ".stockade.yml", "a.txt", "new.txt"]
    assert git(repo, "rev-parse", f"{source.sha}^") == head
    # Branch, index and files as they were; the same content gives the same commit.
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert (repo / "a.txt").read_text() == "edited\n"
    assert source_commit(repo).sha == source.sha


def test_project_in_a_subdirectory_is_the_commits_root(tmp_path: Path) -> None:
    repo, _ = make_repo(tmp_path / "r", "version: 1\n", {"top.txt": "top\n"})
    project = repo / "examples" / "proj"
    project.mkdir(parents=True)
    (project / ".stockade.yml").write_text("version: 1\njobs: {}\n")
    (project / "main.py").write_text("print('hi')\n")
    (project / "pkg").mkdir()

    source = source_commit(project / "pkg")  # from deeper inside, the nearest pipeline wins
    assert source.project == project.resolve() and source.repository == repo.resolve()
    assert files_of(repo, source.sha) == [".stockade.yml", "main.py"]


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not in a git working directory"):
        source_commit(tmp_path)
