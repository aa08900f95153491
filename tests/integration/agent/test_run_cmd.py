"""`stockade run` end to end as a user runs it: a real CLI process, embedded server and agents."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.server.harness import commit, git, make_repo

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python-project"


def stockade(*args: str, home: Path, cwd: Path | None = None,
             timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_HOME"] = str(home)
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "stockade", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    git(project, "init", "-q", "-b", "main")
    commit(project, None, message="example")
    return project


@pytest.mark.root
@pytest.mark.slow
def test_example_pipeline_passes_with_job_and_step_headers(
    home: Path, example: Path, image_store: object
) -> None:
    done = stockade("run", str(example), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for header in ("job check", "job test", "job build", "▸ byte-compile", "▸ unit tests",
                   "▸ source tarball"):
        assert header in out
    assert "Ran 4 tests" in out and "OK" in out
    assert "wordstats-1.0.0.tar.gz" in out
    assert out.index("job check") < out.index("job test") < out.index("job build")
    assert "pipeline passed" in out


@pytest.mark.root
@pytest.mark.slow
def test_failing_pipeline_exits_1_and_dirty_tree_is_what_runs(
    home: Path, example: Path, image_store: object
) -> None:
    head = git(example, "rev-parse", "HEAD")
    # An uncommitted, untracked test that fails: `run` must build the working tree, not HEAD.
    (example / "tests" / "test_broken.py").write_text(
        "import unittest\n\nclass Broken(unittest.TestCase):\n"
        "    def test_fails(self):\n        self.assertEqual(1, 2)\n"
    )
    done = stockade("run", str(example), home=home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "working tree snapshot" in done.stdout
    assert "test_fails" in done.stdout
    # The user's branch, index and files are untouched.
    assert git(example, "rev-parse", "HEAD") == head
    assert git(example, "status", "--porcelain") == "?? tests/test_broken.py"


def test_invalid_pipeline_exits_2_with_file_line_column(home: Path, tmp_path: Path) -> None:
    repo, _ = make_repo(tmp_path / "bad", "version: 1\njobs:\n  a:\n    stepz: []\n")
    done = stockade("run", str(repo), home=home, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{repo / '.stockade.yml'}:4:5" in done.stderr


def test_not_a_git_directory_exits_2(home: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = stockade("run", str(plain), home=home, timeout=60)
    assert done.returncode == 2
    assert "not in a git working directory" in done.stderr


@pytest.mark.root
def test_tier_can_be_lowered_never_raised(home: Path, tmp_path: Path, image_store: object) -> None:
    repo, _ = make_repo(tmp_path / "r", "version: 1\njobs:\n  a:\n    steps:\n"
                                        "      - name: tier\n        run: echo \"$STOCKADE_TIER\"\n")
    lowered = stockade("run", str(repo), "--tier", "untrusted", home=home)
    assert lowered.returncode == 0, lowered.stdout + lowered.stderr
    assert "tier=untrusted pool=untrusted" in lowered.stdout
    assert "\nuntrusted\n" in lowered.stdout  # what the job itself saw

    raised = stockade("run", str(repo), "--tier", "release", home=home)
    assert raised.returncode == 2
    assert "only lower" in raised.stderr
