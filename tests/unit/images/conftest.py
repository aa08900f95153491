"""Factories for small but real images: a few files, written through the store's own code path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stockade.images.assemble import assemble_image
from stockade.images.recipe import DEFAULT_RECIPE, Recipe
from stockade.images.store import ImageRecord, ImageStore

EPOCH = 1_700_000_000
MakeImage = Callable[..., ImageRecord]


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """A tiny root filesystem: ``files`` maps relative paths to their text."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)  # as in a real image
    return root


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture
def make_image(store: ImageStore, tmp_path: Path) -> MakeImage:
    """Build a small image from ``files`` and (optionally) point ``name`` at it."""
    counter = iter(range(1_000))

    def make(
        files: dict[str, str] | None = None,
        *,
        name: str | None = "default",
        packages: tuple[tuple[str, str], ...] = (("bash", "5.2.15-2+b7"), ("coreutils", "9.1-1")),
        epoch: int = EPOCH,
    ) -> ImageRecord:
        tree = make_tree(
            tmp_path / f"tree-{next(counter)}",
            files or {"etc/os-release": "ID=test\n", "usr/bin/hello": "#!/bin/sh\necho hi\n"},
        )
        image = assemble_image(
            store,
            tree,
            epoch=epoch,
            packages=packages,
            recipe="sha256:" + "0" * 64,
            created_by="test",
            title="test",
        )
        if name is not None:
            store.tag(image.manifest, name)
        return store.resolve(image.manifest.digest)

    return make


IN_RELEASE = """\
-----BEGIN PGP SIGNED MESSAGE-----
Origin: Debian
Suite: {suite}
Date: {date}
SHA256:
 {packages_hash} 50060337 main/binary-amd64/Packages
 1111111111111111111111111111111111111111111111111111111111111111 8790396 main/binary-amd64/Packages.xz
 2222222222222222222222222222222222222222222222222222222222222222 1000 contrib/binary-amd64/Packages
-----BEGIN PGP SIGNATURE-----
"""


class FakeArchive:
    """A Debian archive on 127.0.0.1 that serves InRelease files we control."""

    def __init__(self) -> None:
        self.packages_hash = "a" * 64
        self.date = "Sat, 01 Nov 2025 00:00:00 UTC"
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) != 4 or parts[1] != "dists" or parts[3] != "InRelease":
                    self.send_error(404)
                    return
                body = IN_RELEASE.format(
                    suite=parts[2], date=archive.date, packages_hash=archive.packages_hash
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/debian"

    def recipe(self) -> Recipe:
        return replace(
            DEFAULT_RECIPE,
            sources=(f"deb {self.url} bookworm main", f"deb {self.url} bookworm-updates main"),
        )


@pytest.fixture
def archive() -> Iterator[FakeArchive]:
    fake = FakeArchive()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
