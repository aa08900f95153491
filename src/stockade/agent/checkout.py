"""Check out the exact commit of a job: a bare mirror per repository, then a throwaway clone.

Layout under the agent's cache directory::

    mirrors/<sha256(url)[:24]>.git   bare; fetched only when the wanted commit is missing;
                                     refs/stockade/<sha> keeps fetched commits from gc
    mirrors/<...>.git.lock           flock, so agents sharing a cache never fetch at once

The workspace source is ``git clone --local`` of the mirror (objects hardlinked, no alternates that
would point at host paths the sandbox cannot see), detached at the SHA, with its ``origin`` remote
removed: the sandbox gets a working ``.git`` and the commit, never a URL, path or credential.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stockade.errors import InfrastructureError

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


class CheckoutError(InfrastructureError):
    """The commit could not be fetched or checked out (reported as an ``infra`` outcome)."""

    code = "checkout_failed"


def redact_url(url: str) -> str:
    """``url`` without its user-info, so a credential in it never reaches a log line."""
    return _USERINFO.sub("", url)


def _git_env() -> dict[str, str]:
    # Never prompt (an agent has no terminal) and ignore the host user's git config, whose
    # credential helpers, hooks or url rewrites are not this job's business.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="stockade",
        GIT_AUTHOR_EMAIL="agent@stockade.invalid",
        GIT_COMMITTER_NAME="stockade",
        GIT_COMMITTER_EMAIL="agent@stockade.invalid",
    )
    return env


def _git(*args: str, cwd: Path | None = None, timeout: float = 600.0) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=_git_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckoutError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        # git may echo the remote URL (with its user-info) in its error message.
        message = redact_url(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "")
        raise CheckoutError(f"git {args[0]} failed: {message}")
    return done.stdout


class RepoCache:
    """Bare mirrors of the repositories this agent builds, and workspaces made from them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def mirror_path(self, repo_url: str) -> Path:
        digest = hashlib.sha256(repo_url.encode()).hexdigest()[:24]
        return self.root / "mirrors" / f"{digest}.git"

    @contextmanager
    def _locked(self, mirror: Path) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(mirror, threading.Lock())
        mirror.parent.mkdir(parents=True, exist_ok=True)
        with lock, open(f"{mirror}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def ensure_commit(self, repo_url: str, sha: str) -> Path:
        """The mirror of ``repo_url`` holding commit ``sha``, fetching only if it is missing."""
        if not _SHA.match(sha):
            raise CheckoutError(f"not a full commit id: {sha!r}")
        mirror = self.mirror_path(repo_url)
        if self._has_commit(mirror, sha):
            return mirror
        with self._locked(mirror):
            if not (mirror / "HEAD").exists():
                _git("init", "--quiet", "--bare", str(mirror))
            if self._has_commit(mirror, sha):
                return mirror
            # Fetch the commit itself: it may be on no branch (a `stockade run` snapshot, a PR
            # head). Protocol v2 serves any reachable-or-not object id a client asks for.
            _git(
                "-C", str(mirror), "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                "--", repo_url, f"+{sha}:refs/stockade/{sha}",
            )
            if not self._has_commit(mirror, sha):
                raise CheckoutError(f"{redact_url(repo_url)} has no commit {sha}")
        return mirror

    @staticmethod
    def _has_commit(mirror: Path, sha: str) -> bool:
        if not (mirror / "HEAD").exists():
            return False
        try:
            _git("-C", str(mirror), "cat-file", "-e", f"{sha}^{{commit}}", timeout=30)
        except CheckoutError:
            return False
        return True

    def materialise(self, repo_url: str, sha: str, dest: Path) -> Path:
        """Make ``dest`` a working tree detached at ``sha`` with a self-contained ``.git``."""
        mirror = self.ensure_commit(repo_url, sha)
        if dest.exists():
            raise CheckoutError(f"workspace {dest} already exists")
        dest.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "--quiet", "--local", "--no-checkout", "--", str(mirror), str(dest))
        _git("-C", str(dest), "checkout", "--quiet", "--detach", sha)
        # The only remote would be the agent's mirror path: meaningless inside the sandbox, and
        # a host path is exactly what a job should not learn.
        _git("-C", str(dest), "remote", "remove", "origin")
        return dest


class WorkspaceSources:
    """Checked-out trees by (repository, commit), shared by the jobs of one commit.

    The executor *copies* a workspace source into each job's own fresh workspace and never
    writes to it, so every job of a commit (a pipeline's jobs, retries, reruns) can start from
    the same tree: the checkout is paid once per commit, not once per job. Trees no running job
    uses are evicted beyond ``keep``, least recently used first.
    """

    def __init__(self, cache: RepoCache, root: Path, keep: int = 8) -> None:
        self._cache = cache
        self._root = root
        self._keep = keep
        self._lock = threading.Lock()
        self._users: dict[Path, int] = {}  # tree -> running jobs using it; order = recency
        self._making: dict[str, threading.Lock] = {}  # one checkout of a commit at a time
        shutil.rmtree(root, ignore_errors=True)  # a previous process's trees: unknown state

    @contextmanager
    def source(self, repo_url: str, sha: str) -> Iterator[Path]:
        """A tree detached at ``sha`` for the duration of the ``with`` block (do not modify)."""
        key = hashlib.sha256(f"{repo_url}\0{sha}".encode()).hexdigest()[:32]
        tree = self._root / key
        if not self._take(tree):
            # One checkout per commit at a time; other commits (and cached trees) go on.
            with self._lock:
                making = self._making.setdefault(key, threading.Lock())
            with making:
                if not self._take(tree):
                    self._make(repo_url, sha, tree)
        try:
            yield tree
        finally:
            with self._lock:
                self._users[tree] -= 1
                self._evict()

    def _take(self, tree: Path) -> bool:
        """Count one more user of ``tree`` if it exists (and make it the most recent)."""
        with self._lock:
            if tree not in self._users:
                return False
            self._users[tree] = self._users.pop(tree) + 1
            return True

    def _make(self, repo_url: str, sha: str, tree: Path) -> None:
        staging = tree.with_name(f"{tree.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            self._cache.materialise(repo_url, sha, staging)
            shutil.rmtree(tree, ignore_errors=True)  # a stale tree nobody counts any more
            staging.rename(tree)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise CheckoutError(f"cannot place the checkout: {exc.strerror}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with self._lock:
            self._users[tree] = 1

    def _evict(self) -> None:
        idle = [tree for tree, users in self._users.items() if users == 0]
        for tree in idle[: max(len(self._users) - self._keep, 0)]:
            del self._users[tree]
            shutil.rmtree(tree, ignore_errors=True)
