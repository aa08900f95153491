"""``stockade lint``: every problem with its position, exit 2 on errors, a summary when valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def stockade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


VALID = """\
version: 1
jobs:
  build:
    steps: [{name: compile, run: make}]
  test:
    needs: [build]
    timeout: 10m
    steps: [{name: unit, run: make test}]
"""


def test_a_valid_pipeline_exits_0_with_a_summary(tmp_path: Path) -> None:
    (tmp_path / ".stockade.yml").write_text(VALID)
    result = stockade("lint", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ".stockade.yml: ok, 2 jobs: build → test" in result.stdout
    assert "test: image default, 1 step, timeout 10m, needs build" in result.stdout


def test_errors_exit_2_and_each_names_file_line_column_and_field(tmp_path: Path) -> None:
    (tmp_path / ".stockade.yml").write_text(
        VALID.replace("timeout: 10m", "timeout: 10").replace("needs: [build]", "needs: [biuld]"))
    result = stockade("lint", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    file = tmp_path / ".stockade.yml"
    assert f"{file}:6:13: jobs.test.needs[0]: unknown job 'biuld'\n" in result.stdout
    assert "    hint: did you mean 'build'?\n" in result.stdout
    assert f"{file}:7:14: jobs.test.timeout: a duration needs a unit, got 10\n" in result.stdout
    assert "    hint: write 10s or 10m\n" in result.stdout
    assert "problems" in result.stderr


def test_a_file_path_can_be_linted_directly(tmp_path: Path) -> None:
    path = tmp_path / "other.yml"
    path.write_text(VALID)
    assert stockade("lint", str(path), cwd=tmp_path).returncode == 0


def test_a_missing_pipeline_exits_2(tmp_path: Path) -> None:
    result = stockade("lint", cwd=tmp_path)
    assert result.returncode == 2
    assert ".stockade.yml:1:1: file not found" in result.stdout


def test_reserved_keys_are_warned_about_with_their_position(tmp_path: Path) -> None:
    (tmp_path / ".stockade.yml").write_text(VALID.replace("  test:\n", "  test:\n    artifacts: [x]\n"))
    result = stockade("lint", cwd=tmp_path)
    assert result.returncode == 0
    assert (".stockade.yml:6:5: warning: jobs.test.artifacts: 'artifacts' is reserved for a "
            "later version") in result.stdout
