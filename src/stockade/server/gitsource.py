"""Reading the commit under test: resolve a ref or short SHA to the full SHA, and read the
pipeline file *at that commit* (never from a working tree, never the policy).

Local paths and ``file://`` URLs are read in place; other URLs are fetched into a bare mirror
under ``$STOCKADE_HOME/git``. Only the usual transports are allowed (no ``ext::``).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from stockade.errors import InfrastructureError, InvalidInput

_SHA = re.compile(r"^[0-9a-fA-F]{4,64}$")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_PROTOCOLS = ("file", "https", "http", "ssh", "git")
GIT_TIMEOUT_S = 120
_MIRROR_LOCK = threading.Lock()


@dataclass(frozen=True)
class Source:
    """Where the agent clones from, and the exact commit."""

    repo_url: str
    sha: str
    git_dir: Path


def _git(args: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    safety = ["-c", "protocol.allow=never"]
    for proto in _PROTOCOLS:
        safety += ["-c", f"protocol.{proto}.allow=always"]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    try:
        return subprocess.run(
            ["git", *safety, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(
            f"git {args[0]} timed out", hint="is the repository reachable?"
        ) from exc


def local_path(repository: str) -> Path | None:
    """The directory of a local repository (a path or ``file://`` URL), or None for a remote."""
    if repository.startswith("file://"):
        parsed = urlparse(repository)
        return Path(unquote(parsed.path)) if parsed.netloc in ("", "localhost") else None
    if "://" in repository or re.match(r"^[\w.-]+@[\w.-]+:", repository):
        return None
    return Path(repository).absolute()


def _check_inputs(repository: str, rev: str) -> None:
    if repository.startswith("-") or rev.startswith("-"):
        raise InvalidInput("repository and ref must not start with '-'")
    if any(ch in rev for ch in " \t\n\\~^:?*[") or ".." in rev:
        raise InvalidInput(
            f"{rev!r} is not a valid git ref or SHA", hint="e.g. refs/heads/main or a commit SHA"
        )


def resolve(repository: str, ref: str, sha: str, mirrors: Path) -> Source:
    """Find the full SHA of ``sha`` (or of ``ref`` when no sha is given) in ``repository``."""
    if sha and not _SHA.match(sha):
        raise InvalidInput(
            f"{sha!r} is not a commit SHA", hint="give 4 to 64 hex digits, or only a ref"
        )
    rev = sha.lower() if sha else (ref or "HEAD")
    _check_inputs(repository, rev)
    path = local_path(repository)
    if path is not None:
        if not path.exists():
            raise InvalidInput(
                f"repository {repository} does not exist", hint="give a git URL or a local path"
            )
        git_dir = path
        repo_url = repository if repository.startswith("file://") else str(path)
        rev_parsed = _git(
            ["-C", str(git_dir), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]
        )
        full = rev_parsed.stdout.strip() if rev_parsed.returncode == 0 else ""
    else:
        git_dir, full = fetch_into_mirror(repository, rev, mirrors)
        repo_url = repository
    if not _FULL_SHA.match(full):
        raise InvalidInput(
            f"{rev} is not a commit in {repository}",
            hint="push the commit first, or give a ref that exists",
            code="unknown_revision",
        )
    if sha and not full.startswith(sha.lower()):
        raise InvalidInput(
            f"{sha} does not name one commit in {repository}", code="unknown_revision"
        )
    return Source(repo_url=repo_url, sha=full, git_dir=git_dir)


def fetch_into_mirror(url: str, rev: str, mirrors: Path) -> tuple[Path, str]:
    """Fetch ``rev`` of ``url`` into the URL's bare mirror; returns (mirror, fetched commit)."""
    git_dir = mirrors / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".git")
    # FETCH_HEAD is per mirror: concurrent submits of one URL take turns.
    with _MIRROR_LOCK:
        if not (git_dir / "HEAD").exists():
            git_dir.mkdir(parents=True, exist_ok=True)
            init = _git(["init", "--bare", "--quiet", str(git_dir)])
            if init.returncode != 0:
                raise InfrastructureError(f"cannot create a git mirror: {init.stderr.strip()}")
        fetched = _git(["-C", str(git_dir), "fetch", "--quiet", "--no-tags", "--depth=1", url, rev])
        if fetched.returncode != 0:
            raise InvalidInput(
                f"cannot fetch {rev} from {url}: {fetched.stderr.strip()[:300]}",
                hint="check the repository URL and that the commit or ref exists",
                code="unknown_revision",
            )
        head = _git(["-C", str(git_dir), "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"])
    return git_dir, head.stdout.strip() if head.returncode == 0 else ""


def read_at(source: Source, filename: str) -> str | None:
    """The text of ``filename`` at the source's commit, or None when the commit has no such file."""
    shown = _git(["-C", str(source.git_dir), "show", f"{source.sha}:{filename}"])
    if shown.returncode != 0:
        return None
    return shown.stdout
