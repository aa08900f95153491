"""Names point to digests; images are found by either; unknown ones fail with a clear error."""

from __future__ import annotations

import pytest

from stockade.errors import NotFound
from stockade.images.errors import ImageNotFound, ImageStoreCorrupt, InvalidImageRef
from stockade.images.store import ImageStore

from .conftest import MakeImage


def test_empty_store_lists_nothing(store: ImageStore) -> None:
    assert store.list() == []


def test_name_and_digest_resolve_to_the_same_image(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image()
    assert store.resolve("default") == record
    assert store.resolve(record.digest) == record


def test_unknown_refs_raise_image_not_found(store: ImageStore, make_image: MakeImage) -> None:
    make_image()
    for ref in ("nope", "sha256:" + "a" * 64, "../default", "sha256-" + "0" * 64, ""):
        with pytest.raises(ImageNotFound) as caught:
            store.resolve(ref)
        assert isinstance(caught.value, NotFound)
        assert caught.value.code == "image_not_found"
        assert "stockade image build" in caught.value.hint


def test_digest_tags_are_not_names(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image()
    with pytest.raises(ImageNotFound):
        store.resolve(record.digest.replace(":", "-"))


def test_rootfs_wants_a_digest_not_a_name(store: ImageStore, make_image: MakeImage) -> None:
    make_image()
    with pytest.raises(ImageNotFound):
        store.rootfs("default")
    with pytest.raises(ImageNotFound):
        store.rootfs("sha256:" + "b" * 64)


def test_rebuilding_moves_the_name_and_keeps_the_old_image(
    store: ImageStore, make_image: MakeImage
) -> None:
    old = make_image({"etc/version": "1\n"})
    new = make_image({"etc/version": "2\n"})
    assert store.resolve("default").digest == new.digest
    listed = {(record.name, record.digest) for record in store.list()}
    assert listed == {("default", new.digest), (None, old.digest)}
    assert store.resolve(old.digest).name is None  # still addressable by digest


def test_two_names_can_point_at_one_image(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image(name="default")
    make_image(name="canary")  # same content, same digest
    assert store.resolve("canary").digest == record.digest
    assert [rec.name for rec in store.list()] == ["canary", "default"]


def test_invalid_names_are_refused(make_image: MakeImage) -> None:
    for name in ("../escape", "sha256-abc", "with space", "-lead"):
        with pytest.raises(InvalidImageRef):
            make_image(name=name)


def test_a_damaged_blob_is_reported(store: ImageStore, make_image: MakeImage) -> None:
    record = make_image()
    blob = store.blobs / record.digest.removeprefix("sha256:")
    blob.write_bytes(blob.read_bytes() + b" ")
    with pytest.raises(ImageStoreCorrupt):
        ImageStore(store.root).resolve("default")  # a fresh view (blobs read once per instance)


def test_scratch_of_dead_processes_is_swept(store: ImageStore) -> None:
    mine = store.scratch("build-")
    dead = store.tmp / "build-99999999-leftover"
    (dead / "rootfs/usr").mkdir(parents=True)
    store.scratch("unpack-")
    assert not dead.exists()
    assert mine.exists()  # a live process's scratch is never touched


def test_point_moves_a_name_to_a_stored_image(store: ImageStore, make_image: MakeImage) -> None:
    old = make_image({"etc/version": "1\n"}, name="stable")
    new = make_image({"etc/version": "2\n"}, name="canary")
    promoted = store.point("stable", "canary")
    assert promoted.name == "stable" and promoted.digest == new.digest
    assert store.point("previous", old.digest).digest == old.digest
    with pytest.raises(ImageNotFound):
        store.point("stable", "sha256:" + "c" * 64)
    assert store.resolve("stable").digest == new.digest  # a failed point changes nothing
