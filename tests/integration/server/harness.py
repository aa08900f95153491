"""Real servers for tests: ``python -m stockade server`` as a subprocess on a free port, so a
restart or a ``kill -9`` is real; and a minimal client of the agent protocol over raw HTTP.

Reusable from other test packages::

    from tests.integration.server.harness import running_server, ProtocolAgent, make_repo

    server = running_server(tmp_path / "home", lease_ttl_s=2)
    agent = ProtocolAgent.register(server, "trusted")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """One ``stockade server`` process with its own STOCKADE_HOME."""

    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    admin_token: str = ""
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerHandle:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockade", "server", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"server not ready after {READY_TIMEOUT_S}s:\n{self.log()}")
        self.admin_token = (self.home / "admin.token").read_text().strip()
        return self

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as an operator would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, *, hard: bool = False) -> ServerHandle:
        """Stop (or kill) and start again on the same port and database."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for ``/api/v1`` with ``token`` (default: the admin token)."""
        bearer = self.admin_token if token is None else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=30.0)

    def token(self, role: str, name: str | None = None) -> str:
        """A fresh API token with ``role``."""
        with self.client() as api:
            made = api.post("/tokens", json={"name": name or f"{role}-user", "role": role})
            made.raise_for_status()
            return str(made.json()["token"])


def running_server(home: Path, **settings: Any) -> ServerHandle:
    """Start a server whose settings are ``settings`` (e.g. ``lease_ttl_s=2``), env-passed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_HOME"] = str(home)
    for name, value in settings.items():
        env[f"STOCKADE_{name.upper()}"] = str(value)
    for _ in range(3):
        try:
            return ServerHandle(home=home, port=free_port(), env=env).start()
        except RuntimeError as exc:
            # Another process on this machine may take the free port before the server binds it.
            if "address already in use" not in str(exc):
                raise
    raise RuntimeError("no free port found for the server")


@dataclass
class ProtocolAgent:
    """Plays the agent side of api/agent.py over HTTP: a real protocol client, not a mock."""

    server: ServerHandle
    agent_id: str
    pool: str
    credential: str
    _http: httpx.Client | None = field(default=None, repr=False)

    @classmethod
    def register(cls, server: ServerHandle, pool: str, name: str = "test-agent") -> ProtocolAgent:
        with server.client() as api:
            reg = api.post("/agents/registration-tokens", json={"pool": pool})
            reg.raise_for_status()
            answer = httpx.post(
                server.url + "/api/v1/agents/register",
                json={"registration_token": reg.json()["token"], "name": name, "pool": pool},
            )
        answer.raise_for_status()
        body = answer.json()
        return cls(server, body["agent_id"], pool, body["credential"])

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url + "/api/v1/agents",
            headers={"Authorization": f"Bearer {self.credential}"},
            timeout=60.0,
        )

    def post(self, path: str, body: Any = None) -> httpx.Response:
        # One keep-alive connection per agent, as a real agent has (and far cheaper per call).
        if self._http is None:
            self._http = self.http()
        return self._http.post(path, json=body) if body is not None else self._http.post(path)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def lease(self, wait_s: float = 5.0) -> dict[str, Any] | None:
        answer = self.post("/lease", {"wait_s": wait_s})
        if answer.status_code == 204:
            return None
        answer.raise_for_status()
        lease: dict[str, Any] = answer.json()
        return lease

    def heartbeat(self, lease_id: str) -> httpx.Response:
        return self.post(f"/leases/{lease_id}/heartbeat")

    def log(self, lease_id: str, *texts: str, start: int = 0, step: int = 0) -> httpx.Response:
        chunks = [
            {"seq": start + i, "step": step, "stream": "stdout", "ts": time.time(), "text": t}
            for i, t in enumerate(texts)
        ]
        return self.post(f"/leases/{lease_id}/logs", {"chunks": chunks})

    def step(self, lease_id: str, index: int, name: str, status: str, exit_code: int | None = None) -> httpx.Response:
        return self.post(
            f"/leases/{lease_id}/steps",
            {"index": index, "name": name, "status": status, "exit_code": exit_code, "duration_s": 0.01},
        )

    def complete(self, lease_id: str, outcome: str = "success", last_seq: int = -1, detail: str = "") -> httpx.Response:
        return self.post(
            f"/leases/{lease_id}/complete",
            {"outcome": outcome, "detail": detail, "duration_s": 0.1, "last_seq": last_seq},
        )

    def run_one(self, outcome: str = "success", wait_s: float = 5.0) -> dict[str, Any] | None:
        """Lease one job, log a line, report its step, complete it with ``outcome``."""
        lease = self.lease(wait_s)
        if lease is None:
            return None
        lid = lease["lease_id"]
        self.step(lid, 0, lease["job"]["steps"][0]["name"], "running").raise_for_status()
        self.log(lid, f"running {lease['job']['name']}\n").raise_for_status()
        self.step(lid, 0, lease["job"]["steps"][0]["name"], outcome, 0 if outcome == "success" else 1)
        self.complete(lid, outcome, last_seq=0).raise_for_status()
        return lease


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path, pipeline: str, files: dict[str, str] | None = None) -> tuple[Path, str]:
    """A git repository at ``path`` with one commit holding ``.stockade.yml``; returns its SHA."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path, commit(path, pipeline, files)


def commit(repo: Path, pipeline: str | None, files: dict[str, str] | None = None, message: str = "change") -> str:
    """Commit ``pipeline`` as .stockade.yml (and ``files``); returns the new SHA."""
    if pipeline is not None:
        (repo / ".stockade.yml").write_text(pipeline)
    for name, text in (files or {}).items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def pipeline_yaml(jobs: dict[str, list[str]], extra: dict[str, str] | None = None) -> str:
    """A pipeline of trivial jobs: ``{"build": [], "test": ["build"]}`` gives test needs build."""
    lines = ["version: 1", "jobs:"]
    for name, needs in jobs.items():
        lines += [f"  {name}:", f"    needs: [{', '.join(needs)}]"]
        if extra and name in extra:
            lines.append(f"    {extra[name]}")
        lines += ["    steps:", f"      - name: {name}-step", f"        run: echo {name}"]
    return "\n".join(lines) + "\n"
