"""The commit `stockade run` builds: HEAD, or a snapshot of a dirty working tree.

The *project* is the nearest directory from DIR up to the top of its repository that holds a
``.stockade.yml``. When it is the top of the repository, a clean working tree runs ``HEAD``; a
dirty one runs a snapshot commit. When the project is a subdirectory (an example or a package
inside a larger repository), the commit is one whose root is that subdirectory, so the pipeline
sees the project as its own repository.

Snapshots are made without touching the user's refs, index or files: a temporary index file is
filled from HEAD plus every tracked and untracked-but-not-ignored file (``git add -A`` against
that index), written as a tree (``write-tree``, with ``--prefix`` for a subdirectory), and
wrapped in a commit object (``commit-tree``; parent HEAD when the root is the repository's).
The object is stored in the repository's object database, referenced by nothing, so ``git gc``
removes it later. Fixed author and dates make the same content the same commit.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import InvalidInput

PIPELINE_FILE = ".stockade.yml"
_SNAPSHOT_ENV = {
    "GIT_AUTHOR_NAME": "stockade run",
    "GIT_AUTHOR_EMAIL": "run@stockade.invalid",
    "GIT_COMMITTER_NAME": "stockade run",
    "GIT_COMMITTER_EMAIL": "run@stockade.invalid",
    "GIT_AUTHOR_DATE": "1970-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "1970-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class SourceCommit:
    repository: Path  # top of the working tree: what agents fetch the commit from
    project: Path  # the directory holding .stockade.yml: the commit's root
    sha: str
    ref: str  # the branch checked out, or "HEAD" when detached
    snapshot: bool  # True when the commit was made by `run` (uncommitted changes, subdirectory)


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True, text=True, check=False, env=env,
    )
    if done.returncode != 0:
        raise InvalidInput(
            f"git {args[0]} failed in {root}: {done.stderr.strip()}",
            hint="run `stockade run` in a git working directory (git init; git add; git commit)",
        )
    return done.stdout.strip()


def _probe(root: Path, *args: str) -> str:
    """A git query whose failure just means "no" (an unborn HEAD, a detached one)."""
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def find_project(directory: Path, top: Path) -> Path:
    """The nearest directory from ``directory`` up to ``top`` that holds ``.stockade.yml``
    (``top`` when none does, so the missing file is reported there)."""
    current = directory.resolve()
    while not (current / PIPELINE_FILE).is_file():
        if current in (top, current.parent):
            return top
        current = current.parent
    return current


def source_commit(directory: Path) -> SourceCommit:
    """The commit to build for ``directory``'s working tree (see the module docstring)."""
    top_text = _probe(directory, "rev-parse", "--show-toplevel")
    if not top_text:
        raise InvalidInput(
            f"{directory} is not in a git working directory",
            hint="`stockade run` builds a commit: run `git init && git add -A && git commit` first",
        )
    top = Path(top_text).resolve()
    project = find_project(directory, top)
    prefix = "" if project == top else project.relative_to(top).as_posix() + "/"
    head = _probe(top, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    ref = _probe(top, "symbolic-ref", "-q", "HEAD") or "HEAD"
    dirty = bool(_git(top, "status", "--porcelain", "--untracked-files=all", "--",
                      project.as_posix()))
    if head and not dirty and not prefix:
        return SourceCommit(top, project, head, ref, snapshot=False)
    with tempfile.TemporaryDirectory(prefix="stockade-index-") as tmp:
        env = {**os.environ, **_SNAPSHOT_ENV, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if head:
            _git(top, "read-tree", head, env=env)
        _git(top, "add", "-A", "--", project.as_posix(), env=env)
        tree = _git(top, "write-tree", *([f"--prefix={prefix}"] if prefix else []), env=env)
        # A subdirectory's tree has another root than HEAD's: no parent, it stands alone.
        parents = ["-p", head] if head and not prefix else []
        message = f"stockade run: {'working tree of ' + prefix if prefix else 'working tree'}"
        sha = _git(top, "commit-tree", tree, *parents, "-m", message, env=env)
    return SourceCommit(top, project, sha, ref, snapshot=True)
