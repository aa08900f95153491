"""`stockade up` with the client commands against it, as an operator uses them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.agent.harness import unmount_under, wait_until
from tests.integration.server.harness import free_port, make_repo, pipeline_yaml

pytestmark = [pytest.mark.root, pytest.mark.slow]


def children(pid: int) -> dict[int, str]:
    """Child processes of ``pid`` with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except (OSError, IndexError, ValueError):
            continue
    return found


class Up:
    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
        self.env.update(STOCKADE_HOME=str(home), STOCKADE_LISTEN_PORT=str(self.port),
                        STOCKADE_SERVER_URL=f"http://127.0.0.1:{self.port}", COLUMNS="200")
        self.home = home
        self.out = open(home / "up.out", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "stockade", "up"], env=self.env,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stockade", *args], env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)

    def agents(self) -> list[dict[str, str]]:
        token = (self.home / "admin.token").read_text().strip()
        answer = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/agents",
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
        agents: list[dict[str, str]] = answer.json()["agents"]
        return agents

    def logs(self) -> str:
        """What `up` printed, then the tail of each child's log (to see who did not stop)."""
        parts = [(self.home / "up.out").read_text(errors="replace")]
        for log in sorted((self.home / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"--- {log.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            # Leave nothing running for the next test, then fail with what `up` printed.
            for pid in children(self.proc.pid):
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("stockade up did not stop within 120 s of SIGTERM:\n"
                                 + self.logs()) from None
        finally:
            self.out.close()


@pytest.fixture
def up(home: Path, image_store: object) -> Iterator[Up]:
    running = Up(home)
    try:
        wait_until(lambda: (home / "admin.token").exists() and len(running.agents()) == 3, 60,
                   "the server and three agents")
        yield running
    finally:
        running.stop()


def test_up_serves_every_pool_and_the_client_commands_work(up: Up, tmp_path: Path) -> None:
    assert {a["pool"] for a in up.agents()} == {"untrusted", "trusted", "release"}
    repo, sha = make_repo(tmp_path / "repo", pipeline_yaml({"build": [], "test": ["build"]}))

    done = up.cli("submit", str(repo), "-f")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"sha={sha[:12]}" in done.stdout
    assert "job build" in done.stdout and "job test" in done.stdout
    assert "▸ build-step" in done.stdout
    run_id = done.stdout.split("run ", 1)[1].split()[0]

    listed = up.cli("runs")
    assert run_id in listed.stdout and "success" in listed.stdout
    logs = up.cli("logs", run_id)
    assert logs.returncode == 0 and "build" in logs.stdout and "▸ test-step" in logs.stdout

    made = up.cli("token", "create", "--name", "ci-bot", "--role", "viewer")
    assert made.returncode == 0
    secret = made.stdout.strip().splitlines()[-1]
    tokens = up.cli("token", "ls")
    assert "ci-bot" in tokens.stdout and secret not in tokens.stdout
    # The new viewer token works for reading and not for submitting.
    as_viewer = {**up.env, "STOCKADE_TOKEN": secret}
    viewer_runs = subprocess.run([sys.executable, "-m", "stockade", "runs"], env=as_viewer,
                                 capture_output=True, text=True, timeout=60, check=False)
    assert run_id in viewer_runs.stdout
    refused = subprocess.run([sys.executable, "-m", "stockade", "submit", str(repo)],
                             env=as_viewer, capture_output=True, text=True, timeout=60,
                             check=False)
    assert refused.returncode != 0


def test_up_restarts_a_crashed_agent_and_drains_on_sigterm(up: Up, tmp_path: Path) -> None:
    trusted = [pid for pid, cmd in children(up.proc.pid).items()
               if " agent " in cmd and "--pool trusted" in cmd]
    assert len(trusted) == 1
    os.kill(trusted[0], signal.SIGKILL)
    wait_until(lambda: any(" agent " in cmd and "--pool trusted" in cmd and pid != trusted[0]
                           for pid, cmd in children(up.proc.pid).items()),
               30, "up to restart the trusted agent")
    repo, _ = make_repo(tmp_path / "repo", pipeline_yaml({"build": []}))
    done = up.cli("submit", str(repo), "-f")
    assert done.returncode == 0, done.stdout + done.stderr

    kids = list(children(up.proc.pid))
    assert up.stop() == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in kids)
    # The SIGKILLed agent could not release its sandbox work root; the drained ones did.
    unmount_under(up.home / "work" / "trusted")
    assert not [m for m in Path("/proc/mounts").read_text().splitlines() if str(up.home) in m]
