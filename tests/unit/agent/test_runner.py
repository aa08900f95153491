"""The agent's lease lifecycle against a protocol-faithful loopback server: complete, cancel,
lost lease, drain on SIGTERM, drain timeout, refused registration."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.agent.protocol import RegistrationRefused
from stockade.agent.runner import Agent, AgentConfig

from .fakes import CREDENTIAL, REG_TOKEN, FakeServer, ScriptedExecutor, make_lease


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "repo"
    path.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "hello.txt").write_text("hello\n")
    subprocess.run(["git", "-C", str(path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "x"], check=True, env=env)
    sha = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return path, sha


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def make_agent(server: FakeServer, tmp_path: Path, executor: ScriptedExecutor, **kw: object) -> Agent:
    config = AgentConfig(server_url=server.url, pool="untrusted", registration_token=REG_TOKEN,
                         name="test-agent", work_dir=tmp_path / "work", lease_wait_s=0.5, **kw)  # type: ignore[arg-type]
    return Agent(config, lambda _root: executor)


def start(agent: Agent) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(agent.run()), daemon=True)
    thread.start()
    return thread, codes


def test_job_is_run_and_completed_with_every_line(server: FakeServer, repo: tuple[Path, str],
                                                  tmp_path: Path) -> None:
    path, sha = repo
    executor = ScriptedExecutor(lines=200)
    agent = make_agent(server, tmp_path, executor)
    thread, codes = start(agent)
    server.offer(make_lease(1, path, sha, steps=2))
    assert server.wait_for(lambda r: "lease-1" in r.completed)
    agent.drain("test over")
    thread.join(10)
    assert codes == [0]
    done = server.rec.completed["lease-1"]
    assert done.outcome == "success"
    stored = server.rec.logs["lease-1"]
    assert sorted(stored) == list(range(done.last_seq + 1))  # contiguous, nothing missing
    texts = [stored[i] for i in sorted(stored)]
    assert [t for t in texts if " line " in t] == (
        [f"step0 line {n}" for n in range(200)] + [f"step1 line {n}" for n in range(200)]
    )
    assert server.rec.steps["lease-1"] == [(0, "running"), (1, "running"), (0, "success"),
                                           (1, "success")]
    # The job got the commit's files and a .git, and nothing of the agent's credential.
    assert executor.sources == [[".git", "hello.txt"]]
    assert executor.specs[0].env["STOCKADE_SHA"] == sha
    assert not any(CREDENTIAL in v or REG_TOKEN in v for v in executor.specs[0].env.values())


def test_server_cancel_stops_the_job(server: FakeServer, repo: tuple[Path, str],
                                     tmp_path: Path) -> None:
    path, sha = repo
    executor = ScriptedExecutor(sleep_s=30)
    agent = make_agent(server, tmp_path, executor)
    thread, _ = start(agent)
    server.offer(make_lease(1, path, sha))
    assert executor.started.wait(10)
    with server.lock:
        server.rec.cancel.add("lease-1")
    assert server.wait_for(lambda r: "lease-1" in r.completed)
    assert server.rec.completed["lease-1"].outcome == "cancelled"
    agent.drain("test over")
    thread.join(10)


def test_lost_lease_is_never_completed(server: FakeServer, repo: tuple[Path, str],
                                       tmp_path: Path) -> None:
    path, sha = repo
    executor = ScriptedExecutor(sleep_s=30)
    agent = make_agent(server, tmp_path, executor)
    thread, _ = start(agent)
    server.offer(make_lease(1, path, sha))
    assert executor.started.wait(10)
    with server.lock:
        server.rec.lost.add("lease-1")
    # The agent stops the job and takes the next one; the lost lease is never completed.
    server.offer(make_lease(2, path, sha))
    executor.sleep_s = 0
    assert server.wait_for(lambda r: "lease-2" in r.completed)
    assert "lease-1" not in server.rec.completed
    agent.drain("test over")
    thread.join(10)


def test_sigterm_drains_running_job_then_exits_zero(server: FakeServer, repo: tuple[Path, str],
                                                    tmp_path: Path) -> None:
    path, sha = repo
    executor = ScriptedExecutor(sleep_s=1.0)
    agent = make_agent(server, tmp_path, executor)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    agent.install_signal_handlers()
    try:
        server.offer(make_lease(1, path, sha))
        threading.Thread(target=lambda: (executor.started.wait(10),
                                         os.kill(os.getpid(), signal.SIGTERM)),
                         daemon=True).start()
        assert agent.run() == 0  # returns only once the running job is done
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert server.rec.completed["lease-1"].outcome == "success"
    assert executor.closed  # the sandbox's host helpers are released on the way out
    # Draining took no new work.
    server.offer(make_lease(2, path, sha))
    assert not server.wait_for(lambda r: "lease-2" in r.handed, timeout_s=1.0)


def test_sigterm_handler_waits_for_no_lock_and_the_agent_still_drains(
        server: FakeServer, tmp_path: Path) -> None:
    # A handler runs between two bytecodes of the main thread, possibly while it holds the drain
    # event's lock (inside Event.wait): one that waited for that lock would hang the agent.
    agent = make_agent(server, tmp_path, ScriptedExecutor())
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    agent.install_signal_handlers()
    try:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with agent.draining._cond:  # type: ignore[attr-defined]
            call = threading.Thread(target=handler, args=(signal.SIGTERM, None), daemon=True)
            call.start()
            call.join(10)  # failure guard only
            assert not call.is_alive(), "the signal handler waited for the drain event's lock"
        assert agent.run() == 0  # the recorded signal drains it
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    assert agent.draining.is_set()


def test_drain_timeout_cancels_and_releases(server: FakeServer, repo: tuple[Path, str],
                                            tmp_path: Path) -> None:
    path, sha = repo
    executor = ScriptedExecutor(sleep_s=60)
    agent = make_agent(server, tmp_path, executor, drain_timeout_s=0.3)
    thread, codes = start(agent)
    server.offer(make_lease(1, path, sha))
    assert executor.started.wait(10)
    agent.drain("test")
    thread.join(20)
    assert codes == [0]
    assert "lease-1" in server.rec.released
    assert "lease-1" not in server.rec.completed


def test_refused_registration_token(server: FakeServer, tmp_path: Path) -> None:
    config = AgentConfig(server_url=server.url, pool="untrusted",
                         registration_token="wrong-token-123", work_dir=tmp_path / "w")
    agent = Agent(config, lambda _root: ScriptedExecutor())
    with pytest.raises(RegistrationRefused):
        agent.run()
