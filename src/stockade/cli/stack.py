"""A server and its agents as child processes on one machine: what `up` and `run` share.

Each child is a separate ``python -m stockade ...`` process in its own session (so a terminal's
Ctrl-C reaches only the supervisor, which then stops them in order: agents drain first, then the
server). They talk over the same HTTP API remote agents use. Registration tokens travel to the
agent in its environment, never in argv (which any local user can read).
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
from typing import IO

from stockade.cli.client import ApiClient, read_token
from stockade.config import Settings, load_settings
from stockade.errors import InfrastructureError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    """One supervised ``python -m stockade`` process with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stockade", *self.argv],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else -1

    def exit_code(self) -> int | None:
        """None while it runs."""
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> bool:
        """True when the process ended within ``timeout_s``."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout_s: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout_s``; False when it had to be killed."""
        self.signal(signal.SIGTERM)
        stopped = self.wait(timeout_s)
        if not stopped:
            self.signal(signal.SIGKILL)
            self.wait(5.0)
        if self._log is not None:
            self._log.close()
            self._log = None
        return stopped

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def child_env(home: Path, *, isolated: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a child: ours, with its own STOCKADE_HOME and no inherited token.

    ``isolated`` (``stockade run``) also drops the settings that would point the embedded server
    at the user's real data (database, listen address), so a local run never touches them.
    """
    dropped = {"STOCKADE_TOKEN"}
    if isolated:
        dropped |= {"STOCKADE_DATABASE_URL", "STOCKADE_LISTEN_HOST", "STOCKADE_LISTEN_PORT",
                    "STOCKADE_POLICY_FILE", "STOCKADE_SERVER_URL"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["STOCKADE_HOME"] = str(home)
    env.update(extra)
    return env


@dataclass
class Stack:
    """A server plus agents, children of this process."""

    home: Path
    host: str = "127.0.0.1"
    port: int = 0
    policy_file: str = ""
    isolated: bool = False  # `stockade run`: nothing of the user's server settings leaks in
    server: Child | None = None
    agents: dict[str, Child] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def settings(self) -> Settings:
        return load_settings({"STOCKADE_HOME": str(self.home)})

    def start_server(self, timeout_s: float = 60.0) -> ApiClient:
        """Start the server and wait until it answers; returns an admin API client."""
        self.port = self.port or free_port(self.host)
        extra = {"STOCKADE_POLICY_FILE": self.policy_file} if self.policy_file else {}
        self.server = Child(
            "server",
            ["server", "--host", self.host, "--port", str(self.port)],
            child_env(self.home, isolated=self.isolated, **extra),
            self.home / "logs" / "server.log",
        )
        self.server.start()
        return self.wait_server(timeout_s)

    def wait_server(self, timeout_s: float) -> ApiClient:
        assert self.server is not None
        deadline = time.monotonic() + timeout_s
        probe = ApiClient(self.url, "")
        try:
            while not probe.healthy():
                if self.server.exit_code() is not None:
                    raise InfrastructureError(
                        f"the server exited with status {self.server.exit_code()}:\n"
                        f"{self.server.tail()}",
                        hint=f"full log: {self.server.log_path}",
                    )
                if time.monotonic() > deadline:
                    raise InfrastructureError(
                        f"the server did not answer on {self.url} within {timeout_s:.0f}s",
                        hint=f"see {self.server.log_path}",
                    )
                time.sleep(0.05)
        finally:
            probe.close()
        token = read_token(self.settings)
        if not token:
            raise InfrastructureError(
                f"no admin token in {self.home / 'admin.token'}",
                hint="the data directory belongs to another server; set STOCKADE_TOKEN",
            )
        return ApiClient(self.url, token)

    def start_agent(
        self, api: ApiClient, pool: str, *, concurrency: int = 1, drain_timeout_s: float = 300.0
    ) -> Child:
        """Create a registration token for ``pool`` and start an agent with it."""
        made = api.post("/agents/registration-tokens", {"pool": pool, "ttl_s": 120})
        child = self.agents.get(pool)
        if child is None:
            child = Child(
                f"agent-{pool}",
                [
                    "agent", "--server", self.url, "--pool", pool,
                    "--name", f"{socket.gethostname()}-{pool}",
                    "--concurrency", str(concurrency),
                    "--work-dir", str(self.home / "work" / pool),
                    # The real path, never a symlink: crun refuses a root reached through one.
                    "--images-dir", str(self.settings.images_dir.resolve()),
                    "--drain-timeout", str(drain_timeout_s),
                ],
                child_env(self.home, isolated=self.isolated),
                self.home / "logs" / f"agent-{pool}.log",
            )
            self.agents[pool] = child
        else:
            child.restarts += 1
        child.env = {**child.env, "STOCKADE_REGISTRATION_TOKEN": str(made["token"])}
        child.start()
        return child

    def stop(self, drain_timeout_s: float = 30.0) -> list[str]:
        """Drain the agents (SIGTERM, in parallel, one deadline for all), SIGKILL those still
        running at the deadline, then stop the server. Returns the names of those killed."""
        for agent in self.agents.values():
            agent.signal(signal.SIGTERM)
        deadline = time.monotonic() + drain_timeout_s
        killed = [agent.name for agent in self.agents.values()
                  if not agent.stop(max(0.0, deadline - time.monotonic()))]
        if self.server is not None and not self.server.stop(15.0):
            killed.append(self.server.name)
        return killed
