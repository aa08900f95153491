"""Resolving the commit under test and reading its pipeline file, offline with real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.errors import InvalidInput
from stockade.server.gitsource import (
    Source,
    fetch_into_mirror,
    read_at,
    resolve,
    resolve_and_read,
)
from tests.integration.server.harness import commit, make_repo


def test_refs_and_short_shas_resolve_to_the_full_sha(tmp_path: Path) -> None:
    path, first = make_repo(tmp_path / "r", "version: 1\n")
    second = commit(path, "version: 2\n")
    mirrors = tmp_path / "mirrors"
    assert resolve(str(path), "main", "", mirrors).sha == second
    assert resolve(str(path), "", first[:7], mirrors).sha == first
    assert read_at(resolve(str(path), "", first, mirrors), ".stockade.yml") == "version: 1\n"
    assert read_at(resolve(str(path), "", first, mirrors), "missing.yml") is None


def test_resolving_and_reading_together_gives_the_file_at_that_commit(tmp_path: Path) -> None:
    path, first = make_repo(tmp_path / "r", "version: 1\n")
    second = commit(path, "version: 2\n")
    mirrors = tmp_path / "mirrors"
    for repository in (str(path), f"file://{path}"):
        source, text = resolve_and_read(repository, "main", "", mirrors, ".stockade.yml")
        assert (source.sha, text) == (second, "version: 2\n")
        source, text = resolve_and_read(repository, "", first[:7], mirrors, ".stockade.yml")
        assert (source.sha, text) == (first, "version: 1\n")
        assert resolve_and_read(repository, "", first, mirrors, "missing.yml")[1] is None
        assert resolve_and_read(repository, "", first, mirrors, ".")[1] is None  # a tree
        with pytest.raises(InvalidInput):
            resolve_and_read(repository, "", "f" * 40, mirrors, ".stockade.yml")
    source, text = resolve_and_read(f"file://{path}", "main", second, mirrors, ".stockade.yml")
    assert text == "version: 2\n"


def test_file_urls_are_read_in_place(tmp_path: Path) -> None:
    path, sha = make_repo(tmp_path / "r", "version: 1\n")
    for url in (f"file://{path}", f"file://localhost{path}"):
        source = resolve(url, "main", "", tmp_path / "mirrors")
        assert (source.sha, source.repo_url) == (sha, url)


def test_remote_urls_are_fetched_into_a_bare_mirror(tmp_path: Path) -> None:
    path, sha = make_repo(tmp_path / "r", "version: 1\n")
    git_dir, fetched = fetch_into_mirror(f"file://{path}", sha, tmp_path / "mirrors")
    assert fetched == sha
    assert git_dir.parent == tmp_path / "mirrors"
    assert read_at(Source(f"file://{path}", sha, git_dir), ".stockade.yml") == "version: 1\n"
    assert fetch_into_mirror(f"file://{path}", "main", tmp_path / "mirrors") == (git_dir, sha)


@pytest.mark.parametrize(("ref", "sha"), [("", "f" * 40), ("no-such-branch", ""), ("--upload-pack=x", ""), ("a..b", "")])
def test_unknown_or_unsafe_revisions_are_refused(tmp_path: Path, ref: str, sha: str) -> None:
    path, _ = make_repo(tmp_path / "r", "version: 1\n")
    with pytest.raises(InvalidInput):
        resolve(str(path), ref, sha, tmp_path / "mirrors")
