"""Stopping a stack is bounded: agents that ignore SIGTERM are killed at the drain deadline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stockade.cli.stack import Child, Stack

_IGNORES_SIGTERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                    "print('ready', flush=True); time.sleep(600)")
_OBEYS_SIGTERM = "import time; print('ready', flush=True); time.sleep(600)"


def _child(tmp_path: Path, name: str, code: str) -> Child:
    child = Child(name, [], {}, tmp_path / f"{name}.log")
    child.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.process.stdout is not None
    assert child.process.stdout.readline().strip() == b"ready"  # its handler is in place
    return child


def test_stop_kills_an_agent_that_ignores_sigterm_and_says_which(tmp_path: Path) -> None:
    stubborn = _child(tmp_path, "agent-stubborn", _IGNORES_SIGTERM)
    obedient = _child(tmp_path, "agent-obedient", _OBEYS_SIGTERM)
    stack = Stack(home=tmp_path, agents={"stubborn": stubborn, "obedient": obedient})
    try:
        assert stack.stop(drain_timeout_s=0.5) == ["agent-stubborn"]
        assert stubborn.exit_code() is not None and obedient.exit_code() is not None
    finally:
        for child in (stubborn, obedient):
            assert child.process is not None
            child.process.kill()
            child.process.wait()


def test_stop_with_nothing_left_running_kills_nothing(tmp_path: Path) -> None:
    obedient = _child(tmp_path, "agent-obedient", _OBEYS_SIGTERM)
    stack = Stack(home=tmp_path, agents={"obedient": obedient})
    assert stack.stop(drain_timeout_s=30.0) == []
    assert obedient.exit_code() is not None
