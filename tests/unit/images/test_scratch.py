"""Removing a build tree never deletes through a mount left inside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stockade.images.scratch import mounts_under, remove_tree


def test_a_plain_tree_is_removed(tmp_path: Path) -> None:
    tree = tmp_path / "build"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_text("x")
    assert remove_tree(tree)
    assert not tree.exists()
    assert remove_tree(tree)  # already gone is fine


@pytest.mark.root
def test_a_bind_mount_left_in_the_tree_is_unmounted_not_emptied(tmp_path: Path) -> None:
    outside = tmp_path / "host-dev"
    outside.mkdir()
    (outside / "precious").write_text("host data")
    tree = tmp_path / "build"
    (tree / "dev").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(outside), str(tree / "dev")], check=True)
    try:
        assert mounts_under(tree) == [str(tree / "dev")]
        assert remove_tree(tree)
    finally:
        subprocess.run(["umount", "--lazy", str(tree / "dev")], capture_output=True, check=False)
    assert not tree.exists()
    assert (outside / "precious").read_text() == "host data"
