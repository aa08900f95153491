"""Persistence: nothing a job starts outlives it, however it detaches."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from stockade.sandbox.interface import Outcome
from tests.security.conftest import ALL_BACKENDS, Sandbox

pytestmark = pytest.mark.root


def _host_processes_with(tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if tag.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@ALL_BACKENDS
def test_detached_daemons_die_with_the_job(sandbox: Sandbox, backend: str) -> None:
    tag = f"{secrets.randbelow(10**6) + 10**6}.{os.getpid()}"
    ran = sandbox(f"""
        setsid nohup sleep {tag} >/dev/null 2>&1 &
        python3 -c '
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{tag}1"])
    os._exit(0)
time.sleep(0.3)
'
        # one more that keeps the step's stdout open and keeps writing to it
        setsid sh -c 'while :; do echo spam; sleep 0.1; done' &
        sleep 0.3
        echo daemons=$(pgrep -c -f "^sleep {tag}")
    """, backend=backend, timeout_s=30.0)
    assert ran.result.outcome is Outcome.SUCCESS, ran.output
    assert "daemons=2" in ran.stdout.split(), ran.stdout
    assert _host_processes_with(tag) == []
