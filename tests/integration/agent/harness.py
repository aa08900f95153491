"""Real agents for tests: ``python -m stockade agent`` subprocesses against a real server.

Reuses the server engineer's harness (``tests.integration.server.harness``) for the server side.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_HOME
from tests.integration.server.harness import ServerHandle

FINAL_JOB = {"success", "failed", "timeout", "oom", "limit", "cancelled", "skipped", "lost",
             "infra", "denied"}
FINAL_RUN = {"success", "failed", "cancelled"}


def registration_token(server: ServerHandle, pool: str, ttl_s: float = 600) -> str:
    with server.client() as api:
        made = api.post("/agents/registration-tokens", json={"pool": pool, "ttl_s": ttl_s})
        made.raise_for_status()
        return str(made.json()["token"])


@dataclass
class AgentProcess:
    """One real agent process; its JSON log lines go to ``log_path``."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, timeout_s: float) -> int:
        return self.proc.wait(timeout=timeout_s)

    def terminate(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()


def start_agent(
    server: ServerHandle,
    pool: str,
    work_dir: Path,
    *,
    token: str | None = None,
    concurrency: int = 1,
    name: str = "test-agent",
    extra: tuple[str, ...] = (),
) -> AgentProcess:
    """Start ``stockade agent`` for ``pool`` with a fresh (or the given) registration token."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_HOME"] = str(work_dir / "home")
    env["STOCKADE_REGISTRATION_TOKEN"] = token or registration_token(server, pool)
    log_path = work_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stockade", "agent", "--server", server.url, "--pool", pool,
             "--name", name, "--concurrency", str(concurrency), "--work-dir", str(work_dir),
             "--images-dir", str((TEST_HOME / "images").resolve()), "--drain-timeout", "60",
             *extra],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return AgentProcess(proc, log_path)


def submit(server: ServerHandle, repo: Path, sha: str, **extra: Any) -> dict[str, Any]:
    with server.client() as api:
        made = api.post("/runs", json={"repository": str(repo), "ref": "refs/heads/main",
                                       "sha": sha, "event": "manual", **extra})
        assert made.status_code == 201, made.text
        run: dict[str, Any] = made.json()
        return run


def get(server: ServerHandle, path: str) -> Any:
    with server.client() as api:
        answer = api.get(path)
        answer.raise_for_status()
        return answer.json()


def wait_until(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def wait_run_final(server: ServerHandle, run_id: str, timeout_s: float = 120) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        run: dict[str, Any] = get(server, f"/runs/{run_id}")
        return run if run["status"] in FINAL_RUN else None

    result: dict[str, Any] = wait_until(final, timeout_s, f"run {run_id} to finish", 0.2)
    return result


def job_lines(server: ServerHandle, job_id: str) -> list[dict[str, Any]]:
    """Every stored log line of a job (all attempts), paging through the cursor."""
    lines: list[dict[str, Any]] = []
    after = -1
    while True:
        page = get(server, f"/jobs/{job_id}/logs?after={after}")
        if not page["lines"]:
            return lines
        lines += page["lines"]
        after = max(line["cursor"] for line in page["lines"])


def cleanup_killed_agent(agent: AgentProcess, root: Path) -> None:
    """Remove what a ``kill -9``-ed agent never tore down: its helpers (same process group),
    its detached sandboxes (crun state under ``root``'s job ids) and its workspace mounts."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(agent.pid, signal.SIGKILL)
    listed = subprocess.run(["crun", "list", "-q"], capture_output=True, text=True, check=False)
    for sandbox_id in listed.stdout.split():
        if any(root.glob(f"**/{sandbox_id}")):
            subprocess.run(["crun", "delete", "--force", sandbox_id], check=False,
                           capture_output=True)
    unmount_under(root)


def unmount_under(root: Path) -> None:
    """Lazily unmount everything mounted under ``root`` (what a killed process left)."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
