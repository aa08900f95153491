"""``stockade image ls`` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import MakeImage


def _stockade(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STOCKADE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "stockade", *args],
        capture_output=True, text=True, env=env, check=False,
    )


def test_image_ls_shows_name_digest_created_and_size(tmp_path: Path, make_image: MakeImage) -> None:
    record = make_image()  # the store fixture lives at tmp_path / "images" = $STOCKADE_HOME/images
    done = _stockade(tmp_path, "image", "ls")
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.strip().splitlines()
    assert header.split() == ["NAME", "DIGEST", "CREATED", "SIZE"]
    assert row.split()[:3] == ["default", record.digest, "2023-11-14T22:13:20Z"]
    assert row.split()[-1] in {"B", "KiB", "MiB"}


def test_image_ls_packages_lists_versions(tmp_path: Path, make_image: MakeImage) -> None:
    make_image()
    done = _stockade(tmp_path, "image", "ls", "--packages")
    assert "bash 5.2.15-2+b7" in done.stdout


def test_image_ls_of_an_empty_store_prints_only_the_header(tmp_path: Path) -> None:
    done = _stockade(tmp_path, "image", "ls")
    assert done.returncode == 0
    assert done.stdout.split() == ["NAME", "DIGEST", "CREATED", "SIZE"]


def test_image_inspect_prints_the_record(tmp_path: Path, make_image: MakeImage) -> None:
    import json

    record = make_image()
    done = _stockade(tmp_path, "image", "inspect", "default")
    body = json.loads(done.stdout)
    assert body["digest"] == record.digest
    assert body["packages"] == {"bash": "5.2.15-2+b7", "coreutils": "9.1-1"}


def test_unknown_image_is_one_clear_error(tmp_path: Path) -> None:
    done = _stockade(tmp_path, "image", "inspect", "nope")
    assert done.returncode == 1
    assert "no image 'nope'" in done.stderr
    assert "stockade image build" in done.stderr
    assert "Traceback" not in done.stderr


def test_image_tag_points_a_name(tmp_path: Path, make_image: MakeImage) -> None:
    record = make_image()
    done = _stockade(tmp_path, "image", "tag", record.digest, "stable")
    assert done.returncode == 0, done.stderr
    listed = _stockade(tmp_path, "image", "ls").stdout
    assert f"stable   {record.digest}" in listed
