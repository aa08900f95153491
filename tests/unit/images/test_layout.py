"""The store writes a valid OCI image layout that real tools (skopeo, umoci) accept."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from stockade.images import oci
from stockade.images.store import ImageStore

from .conftest import EPOCH, MakeImage


def _blob(store: ImageStore, digest: str) -> bytes:
    return (store.layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def _check_descriptor(store: ImageStore, descriptor: dict[str, object], media_type: str) -> bytes:
    assert descriptor["mediaType"] == media_type
    data = _blob(store, str(descriptor["digest"]))
    assert descriptor["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert descriptor["size"] == len(data)
    return data


def test_layout_files_media_types_and_digests(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image()
    assert json.loads((store.layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((store.layout / "index.json").read_text())
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == oci.MEDIA_INDEX
    refs = {entry["annotations"][oci.ANN_REF_NAME]: entry for entry in index["manifests"]}
    assert set(refs) == {"default", oci.digest_tag(record.digest)}

    manifest = json.loads(_check_descriptor(store, refs["default"], oci.MEDIA_MANIFEST))
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == oci.MEDIA_MANIFEST
    assert manifest["annotations"][oci.ANN_CREATED] == "2023-11-14T22:13:20Z"
    config = json.loads(_check_descriptor(store, manifest["config"], oci.MEDIA_CONFIG))
    (layer_desc,) = manifest["layers"]
    layer = _check_descriptor(store, layer_desc, oci.MEDIA_LAYER_GZIP)

    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert config["config"]["Labels"][oci.LABEL_PACKAGES] == "bash=5.2.15-2+b7 coreutils=9.1-1"


def test_record_reports_what_was_built(make_image: MakeImage) -> None:
    record = make_image()
    assert record.name == "default"
    assert oci.DIGEST_RE.match(record.digest)
    assert record.created == "2023-11-14T22:13:20Z"
    assert record.packages == (("bash", "5.2.15-2+b7"), ("coreutils", "9.1-1"))
    assert record.size > 0


def test_same_tree_and_epoch_give_same_digest(make_image: MakeImage) -> None:
    first = make_image(name=None)
    second = make_image(name=None)  # a fresh tree with new file mtimes, same content
    assert first.digest == second.digest
    assert make_image(name=None, epoch=EPOCH + 1).digest != first.digest
    assert make_image({"etc/os-release": "ID=other\n"}, name=None).digest != first.digest


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_reads_the_layout(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image()
    done = subprocess.run(
        ["skopeo", "inspect", f"oci:{store.layout}:default"],
        capture_output=True, text=True, check=True,
    )
    inspected = json.loads(done.stdout)
    assert inspected["Digest"] == record.digest
    assert inspected["Created"] == record.created
    assert inspected["Labels"][oci.LABEL_PACKAGES].startswith("bash=")


def test_unpacked_rootfs_holds_the_files(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image({"etc/os-release": "ID=test\n", "usr/bin/tool": "tool\n"})
    rootfs = store.rootfs(record.digest)
    assert (rootfs / "etc/os-release").read_text() == "ID=test\n"
    assert (rootfs / "usr/bin/tool").read_text() == "tool\n"


def test_rootfs_is_unpacked_once_and_reused(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image()
    first = store.rootfs(record.digest)
    marker = first / "etc/os-release"
    inode = marker.stat().st_ino
    second = store.rootfs(record.digest)
    assert second == first
    assert marker.stat().st_ino == inode  # the same files, not a second unpack
    assert list((store.root / "tmp").iterdir()) == []  # no scratch left behind


@pytest.mark.root
def test_rootfs_is_root_owned_and_not_writable_by_others(
    store: ImageStore, make_image: MakeImage
) -> None:
    record = make_image()
    rootfs = store.rootfs(record.digest)
    for path in (rootfs, rootfs / "etc", rootfs / "etc/os-release", store.rootfs_dir):
        info = path.stat()
        assert info.st_uid == 0, path
        assert not info.st_mode & 0o022, f"{path} is writable by group or others"
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1775  # sticky kept, world-write gone


def test_layer_excludes_device_nodes_and_clamps_mtimes(tmp_path: Path) -> None:
    import tarfile

    from stockade.images.layer import write_layer

    tree = tmp_path / "tree"
    (tree / "dev").mkdir(parents=True)
    (tree / "dev/leftover").write_text("x")
    (tree / "etc").mkdir()
    (tree / "etc/new").write_text("new")  # mtime is now, after the epoch
    out = tmp_path / "layer.tar.gz"
    write_layer(tree, out, epoch=EPOCH)
    with tarfile.open(out) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert sorted(members) == ["dev", "etc", "etc/new"]
    assert {member.mtime for member in members.values()} == {EPOCH}
    assert all(member.uname == "" and member.gname == "" for member in members.values())
