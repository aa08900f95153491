"""Building the runner image: package versions recorded, no-op when nothing changed, reproducible."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from stockade.images.build import BUILD_INFO, build_default_image, installed_packages
from stockade.images.errors import ImageBuildError
from stockade.images.recipe import DEFAULT_RECIPE, apt_fingerprint
from stockade.images.store import ImageStore

from .conftest import FakeArchive, MakeImage

STATUS = """\
Package: bash
Status: install ok installed
Version: 5.2.15-2+b7
Architecture: amd64

Package: oldtool
Status: deinstall ok config-files
Version: 1.0
Architecture: amd64

Package: coreutils
Status: install ok installed
Version: 9.1-1
Architecture: amd64
"""


def test_installed_packages_reads_the_tree_dpkg_database(tmp_path: Path) -> None:
    admin = tmp_path / "var/lib/dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "status").write_text(STATUS)
    (admin / "available").write_text("")
    (admin / "updates").mkdir()
    assert installed_packages(tmp_path) == (("bash", "5.2.15-2+b7"), ("coreutils", "9.1-1"))


def _tree_differences(left: Path, right: Path, limit: int = 20) -> list[str]:
    """Paths whose type, mode, owner, size, mtime, link target or content differ (diagnostics)."""

    def describe(root: Path) -> dict[str, tuple[object, ...]]:
        found: dict[str, tuple[object, ...]] = {}
        for path in sorted(root.rglob("*")):
            info = path.lstat()
            link = str(path.readlink()) if path.is_symlink() else ""
            digest = (
                hashlib.sha256(path.read_bytes()).hexdigest()
                if path.is_file() and not path.is_symlink() else ""
            )
            found[str(path.relative_to(root))] = (
                info.st_mode, info.st_uid, info.st_gid, info.st_size, int(info.st_mtime), link,
                digest,
            )
        return found

    a, b = describe(left), describe(right)
    differing = sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))
    return differing[:limit] or ["(none: the trees are equal, so the layer bytes differ)"]


def _pretend_built(store: ImageStore, digest: str, archive: FakeArchive, epoch: int) -> None:
    recipe = archive.recipe()
    meta = store.meta_dir(digest)
    meta.mkdir(parents=True)
    info = {
        "recipe": recipe.key(),
        "apt_fingerprint": apt_fingerprint(recipe),
        "source_date_epoch": epoch,
    }
    (meta / BUILD_INFO).write_text(json.dumps(info))


def test_unchanged_recipe_and_archive_skip_the_build(
    store: ImageStore, make_image: MakeImage, archive: FakeArchive
) -> None:
    current = make_image()
    _pretend_built(store, current.digest, archive, 1_700_000_000)
    seen: list[str] = []
    again = build_default_image(
        store, recipe=archive.recipe(), progress=lambda message, _f: seen.append(message)
    )
    assert again == current
    assert any("up to date" in message for message in seen)
    # The same epoch asked for explicitly is still the same image.
    assert build_default_image(store, recipe=archive.recipe(), source_date_epoch=1_700_000_000)
    assert store.rootfs(current.digest).is_dir()


@pytest.mark.root
def test_a_changed_archive_rebuilds_and_a_failed_build_changes_nothing(
    store: ImageStore, make_image: MakeImage, archive: FakeArchive
) -> None:
    current = make_image()
    _pretend_built(store, current.digest, archive, 1_700_000_000)
    archive.packages_hash = "c" * 64  # the archive moved on: a rebuild is due
    # Our fake archive has no signed package lists, so mmdebstrap fails; the store must not move.
    with pytest.raises(ImageBuildError, match="mmdebstrap failed"):
        build_default_image(store, recipe=archive.recipe())
    assert store.resolve("default") == current
    assert [record.digest for record in store.list()] == [current.digest]
    assert list(store.tmp.iterdir()) == []


@pytest.mark.root
@pytest.mark.slow
def test_rebuild_with_the_same_epoch_gives_the_same_digest(
    image_store: ImageStore, tmp_path: Path
) -> None:
    """A real second mmdebstrap build (≈1 min) against the default image of the test store."""
    default = image_store.resolve("default")
    info = json.loads((image_store.meta_dir(default.digest) / BUILD_INFO).read_text())
    fresh = ImageStore(tmp_path / "images")
    rebuilt = build_default_image(fresh, source_date_epoch=info["source_date_epoch"], force=True)
    if rebuilt.packages != default.packages:
        pytest.fail(
            "the Debian archive changed between the two builds; rerun (package sets differ: "
            f"{sorted(set(rebuilt.packages) ^ set(default.packages))})"
        )
    if rebuilt.digest != default.digest:
        pytest.fail(
            "same packages and epoch, different digests; differing paths: "
            + ", ".join(_tree_differences(image_store.rootfs(default.digest),
                                          fresh.rootfs(rebuilt.digest)))
        )
    assert rebuilt.created == default.created
    assert (fresh.rootfs(rebuilt.digest) / "usr/bin/git").exists()


@pytest.mark.root
def test_default_image_holds_the_ci_tools_and_their_versions(image_store: ImageStore) -> None:
    default = image_store.resolve("default")
    versions = dict(default.packages)
    for package in ("bash", "coreutils", "git", "curl", "ca-certificates", "python3", "make",
                    "procps"):
        assert versions.get(package), f"{package} missing from the recorded packages"
    rootfs = image_store.rootfs(default.digest)
    for tool in ("bin/bash", "usr/bin/git", "usr/bin/curl", "usr/bin/python3", "usr/bin/make",
                 "usr/bin/ps", "etc/ssl/certs/ca-certificates.crt"):
        assert (rootfs / tool).exists(), tool
    assert (rootfs / "workspace").is_dir()  # the sandbox's mount point is part of the image
    assert not any((rootfs / "dev").iterdir())  # the runtime provides /dev
    assert rootfs.stat().st_uid == 0 and not rootfs.stat().st_mode & 0o022
    writable = [
        path for path in rootfs.rglob("*")
        if not path.is_symlink() and path.lstat().st_mode & 0o002
    ]
    assert writable == [], "world-writable paths in the shared root filesystem"


def test_an_unreachable_archive_keeps_the_existing_image(
    store: ImageStore, make_image: MakeImage
) -> None:
    current = make_image()
    offline = replace(DEFAULT_RECIPE, sources=("deb http://127.0.0.1:9/debian bookworm main",))
    meta = store.meta_dir(current.digest)
    meta.mkdir(parents=True)
    (meta / BUILD_INFO).write_text(json.dumps({"recipe": offline.key(), "apt_fingerprint": None}))
    seen: list[str] = []
    kept = build_default_image(
        store, recipe=offline, progress=lambda message, _f: seen.append(message)
    )
    assert kept == current
    assert any("unreachable" in message for message in seen)


def test_an_invalid_name_fails_before_building(store: ImageStore) -> None:
    from stockade.images.errors import InvalidImageRef

    with pytest.raises(InvalidImageRef):
        build_default_image(store, name="../x", force=True)
    assert store.list() == []
