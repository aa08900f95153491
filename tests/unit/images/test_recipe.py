"""The recipe names what is asked for; the archive fingerprint tells when a rebuild could matter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stockade.images.recipe import DEFAULT_RECIPE, apt_fingerprint

from .conftest import FakeArchive


def test_recipe_key_is_stable_and_follows_the_package_list() -> None:
    assert DEFAULT_RECIPE.key() == replace(DEFAULT_RECIPE).key()
    more = replace(DEFAULT_RECIPE, packages=(*DEFAULT_RECIPE.packages, "jq"))
    assert more.key() != DEFAULT_RECIPE.key()


def test_default_recipe_asks_for_the_ci_tools() -> None:
    command = DEFAULT_RECIPE.mmdebstrap_command(Path("/target"))
    assert command[:2] == ["mmdebstrap", "--variant=minbase"]
    include = next(arg for arg in command if arg.startswith("--include="))
    assert set(include.removeprefix("--include=").split(",")) == {
        "bash", "coreutils", "git", "curl", "ca-certificates", "python3", "make", "procps",
    }
    assert "bookworm" in command and "/target" in command
    assert any("bookworm-security" in arg for arg in command)


def test_fingerprint_follows_package_indices_not_signatures(archive: FakeArchive) -> None:
    recipe = archive.recipe()
    first = apt_fingerprint(recipe)
    assert first is not None and first.startswith("sha256:")
    archive.date = "Sun, 02 Nov 2025 00:00:00 UTC"  # re-signed, same packages
    assert apt_fingerprint(recipe) == first
    archive.packages_hash = "b" * 64  # a package changed
    assert apt_fingerprint(recipe) != first


def test_fingerprint_is_none_when_the_archive_is_unreachable(archive: FakeArchive) -> None:
    broken = replace(DEFAULT_RECIPE, sources=(f"deb {archive.url}/missing nosuch main",))
    assert apt_fingerprint(broken) is None
    closed = replace(DEFAULT_RECIPE, sources=("deb http://127.0.0.1:9/debian bookworm main",))
    assert apt_fingerprint(closed, timeout=1.0) is None
