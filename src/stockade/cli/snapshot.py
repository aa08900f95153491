"""The commit `stockade run` builds: HEAD, or a snapshot of a dirty working tree.

The snapshot is made without touching the user's refs, index or files: a temporary index file is
filled from HEAD plus every tracked and untracked-but-not-ignored file (``git add -A`` against
that index), written as a tree, and wrapped in a commit object whose parent is HEAD. The object is
stored in the repository's object database, referenced by nothing, so ``git gc`` removes it later.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import InvalidInput

# Fixed identity and dates: the snapshot of the same tree on the same HEAD is the same commit.
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
    root: Path  # top of the working tree
    sha: str
    ref: str  # the branch checked out, or "HEAD" when detached
    snapshot: bool  # True when the commit includes uncommitted changes


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


def source_commit(directory: Path) -> SourceCommit:
    """The commit to build for ``directory``'s working tree (see the module docstring)."""
    probe = subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        raise InvalidInput(
            f"{directory} is not in a git working directory",
            hint="`stockade run` builds a commit: run `git init && git add -A && git commit` first",
        )
    root = Path(probe.stdout.strip())
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD^{commit}"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    branch = subprocess.run(
        ["git", "-C", str(root), "symbolic-ref", "-q", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    ref = branch or "HEAD"
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=all"))
    if head and not dirty:
        return SourceCommit(root, head, ref, snapshot=False)
    with tempfile.TemporaryDirectory(prefix="stockade-index-") as tmp:
        env = {**os.environ, **_SNAPSHOT_ENV, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if head:
            _git(root, "read-tree", head, env=env)
        _git(root, "add", "-A", "--", ".", env=env)
        tree = _git(root, "write-tree", env=env)
        parents = ["-p", head] if head else []
        sha = _git(root, "commit-tree", tree, *parents, "-m", "stockade run: working tree snapshot",
                   env=env)
    return SourceCommit(root, sha, ref, snapshot=True)
