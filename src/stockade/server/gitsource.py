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
from typing import IO
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


def _git_argv(args: list[str]) -> tuple[list[str], dict[str, str]]:
    safety = ["-c", "protocol.allow=never"]
    for proto in _PROTOCOLS:
        safety += ["-c", f"protocol.{proto}.allow=always"]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    return ["git", *safety, *args], env


def _git(args: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv, env = _git_argv(args)
    try:
        return subprocess.run(
            argv,
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
    return _resolve(repository, ref, sha, mirrors, None)[0]


def resolve_and_read(
    repository: str, ref: str, sha: str, mirrors: Path, filename: str
) -> tuple[Source, str | None]:
    """:func:`resolve`, then :func:`read_at` of ``filename`` at that commit; a local repository
    answers both from one git process (a submit spawned two before)."""
    source, text = _resolve(repository, ref, sha, mirrors, filename)
    if text is _UNREAD:
        text = read_at(source, filename)
    return source, text


_UNREAD = "\0unread"  # not a possible file text from _resolve: it never reads a remote's file


def _resolve(
    repository: str, ref: str, sha: str, mirrors: Path, filename: str | None
) -> tuple[Source, str | None]:
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
        if filename is None:
            rev_parsed = _git(
                ["-C", str(git_dir), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]
            )
            full = rev_parsed.stdout.strip() if rev_parsed.returncode == 0 else ""
            text: str | None = _UNREAD
        else:
            full, text = _commit_and_file(git_dir, rev, filename)
    else:
        git_dir, full = fetch_into_mirror(repository, rev, mirrors)
        repo_url = repository
        text = _UNREAD
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
    return Source(repo_url=repo_url, sha=full, git_dir=git_dir), text


def _commit_and_file(git_dir: Path, rev: str, filename: str) -> tuple[str, str | None]:
    """One ``git cat-file --batch``: the full SHA of ``rev``'s commit ("" if none), then
    ``filename`` at *that* SHA (None if absent). The second question is asked only once the
    first is answered, so a ref that moves in between cannot mix two commits."""
    argv, env = _git_argv(["-C", str(git_dir), "cat-file", "--batch"])
    try:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise InfrastructureError(f"cannot run git: {exc}") from exc
    assert proc.stdin is not None and proc.stdout is not None
    timer = threading.Timer(GIT_TIMEOUT_S, proc.kill)  # a stuck git never holds a submit
    timer.start()
    try:
        proc.stdin.write(f"{rev}^{{commit}}\n".encode())
        proc.stdin.flush()
        full, kind, _ = _batch_object(proc.stdout)
        text: str | None = None
        if full is not None and kind == "commit" and _FULL_SHA.match(full):
            proc.stdin.write(f"{full}:{filename}\n".encode())
            proc.stdin.flush()
            _, kind, content = _batch_object(proc.stdout)
            if kind == "blob":
                text = content.decode("utf-8", errors="replace")
        else:
            full = None
        proc.stdin.close()
        proc.wait()
    except (OSError, ValueError) as exc:
        proc.kill()
        proc.wait()
        raise InfrastructureError(
            f"git cat-file failed: {exc}", hint="is the repository readable?"
        ) from exc
    finally:
        timer.cancel()
    return (full or ""), text


def _batch_object(out: IO[bytes]) -> tuple[str | None, str, bytes]:
    """Read one answer of ``cat-file --batch``: (object name, type, content), or
    (None, "", b"") when the object is missing or ambiguous."""
    header = out.readline().decode(errors="replace").split()
    if len(header) != 3 or not header[2].isdigit():  # "<rev> missing", "<rev> ambiguous", EOF
        return None, "", b""
    size = int(header[2])
    content = out.read(size + 1)  # the content, then a newline
    if len(content) != size + 1:
        raise ValueError("short read from git cat-file")
    return header[0], header[1], content[:size]


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
