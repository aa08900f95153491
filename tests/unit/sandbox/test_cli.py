"""``stockade sandbox exec`` and ``stockade doctor`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_HOME

STOCKADE = [sys.executable, "-m", "stockade"]


def _stockade(*args: str, home: Path = TEST_HOME) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STOCKADE_HOME": str(home)}
    return subprocess.run([*STOCKADE, *args], capture_output=True, text=True, env=env, check=False,
                          timeout=120)


def test_doctor_reports_host_and_backends_as_json(tmp_path: Path) -> None:
    done = _stockade("doctor", "--json", home=tmp_path)
    report = json.loads(done.stdout)
    assert report["cgroup_mode"] in ("v1", "v2", "hybrid", "none")
    assert {b["backend"] for b in report["backends"]} == {"crun", "runc", "runsc", "bwrap"}
    for verdict in report["backends"]:
        assert verdict["usable"] or verdict["reasons"]  # unusable always says why
    assert done.returncode == (0 if any(b["backend"] == "crun" and b["usable"]
                                        for b in report["backends"]) else 3)


def test_doctor_human_output_names_every_backend(tmp_path: Path) -> None:
    out = _stockade("doctor", home=tmp_path).stdout
    for word in ("cgroups:", "user namespaces:", "seccomp:", "crun", "runc", "runsc", "bwrap"):
        assert word in out


@pytest.mark.root
def test_sandbox_exec_streams_output_and_returns_the_exit_code(image_store: object) -> None:
    done = _stockade("sandbox", "exec", "--memory", "256Mi", "--pids", "64", "--", "sh", "-c",
                     "echo out; echo err >&2; id -u; exit 7")
    assert done.returncode == 7
    assert done.stdout.splitlines() == ["out", "1000"]
    assert "err" in done.stderr.splitlines()


@pytest.mark.root
def test_sandbox_exec_reports_timeout_like_timeout1(image_store: object) -> None:
    done = _stockade("sandbox", "exec", "--timeout", "500ms", "--", "sleep", "30")
    assert done.returncode == 124
    assert "timed out" in done.stderr


@pytest.mark.root
def test_sandbox_exec_passes_arguments_verbatim(image_store: object) -> None:
    done = _stockade("sandbox", "exec", "--", "printf", "%s|", "a b", "$HOME", "'q'")
    assert done.returncode == 0
    assert done.stdout == "a b|$HOME|'q'|\n"  # output is delivered as lines


def test_sandbox_exec_refuses_bad_limits_before_running(tmp_path: Path) -> None:
    done = _stockade("sandbox", "exec", "--memory", "lots", "--", "true", home=tmp_path)
    assert done.returncode == 2
    assert "512Mi" in done.stderr
