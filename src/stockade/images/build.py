"""Build the default runner image: mmdebstrap → deterministic layer → OCI blobs → umoci unpack.

Nothing in the store changes until every blob is written and umoci has unpacked (and so verified)
the new image; only then does the name move to the new digest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from stockade.images import oci
from stockade.images.assemble import assemble_image
from stockade.images.errors import ImageBuildError, ImageNotFound
from stockade.images.recipe import DEFAULT_RECIPE, Recipe, apt_fingerprint
from stockade.images.scratch import remove_tree
from stockade.images.store import ImageRecord, ImageStore, validate_name

Progress = Callable[[str, float | None], None]

# mmdebstrap's own stage messages, and how far through the whole build each one is.
_STAGES = (
    ("running apt-get update", "updating package lists", 0.03),
    ("downloading packages", "downloading packages", 0.10),
    ("extracting archives", "extracting packages", 0.25),
    ("installing essential", "installing essential packages", 0.35),
    ("installing remaining", "installing packages", 0.50),
    ("cleaning package lists", "cleaning up", 0.62),
)
_LAYER_START, _LAYER_END = 0.65, 0.85
# Mount points a sandbox needs in its read-only root: the runtime cannot create them there.
SANDBOX_MOUNT_POINTS = ("workspace",)
BUILD_INFO = "build.json"


def build_default_image(
    store: ImageStore,
    *,
    source_date_epoch: int | None = None,
    progress: Progress | None = None,
    name: str = "default",
    force: bool = False,
    recipe: Recipe = DEFAULT_RECIPE,
) -> ImageRecord:
    """Build (or, when nothing could change, reuse) the runner image and point ``name`` at it.

    ``source_date_epoch`` fixes every timestamp; unset, ``$SOURCE_DATE_EPOCH`` or the current time
    is used. A build is skipped when ``name`` already points at an image of the same recipe built
    from the same archive state (and the same epoch, if one is given), or when the archive is
    unreachable and such an image exists, unless ``force``.
    """
    validate_name(name)  # before a minute of building, not after
    report: Progress = progress or (lambda _message, _fraction: None)
    report("checking the Debian archive", None)
    fingerprint = apt_fingerprint(recipe)
    if not force:
        current = _up_to_date(store, name, recipe, fingerprint, source_date_epoch)
        if current is not None:
            store.rootfs(current.digest)  # the cache may have been cleared; refill it
            state = "up to date" if fingerprint else "kept (the Debian archive is unreachable)"
            report(f"{name} is {state} ({current.digest[:19]})", 1.0)
            return current
    epoch = _epoch(source_date_epoch)
    work = store.scratch("build-")
    try:
        tree = work / "rootfs"
        _mmdebstrap(recipe, tree, epoch, report)
        packages = installed_packages(tree)
        for mount_point in SANDBOX_MOUNT_POINTS:
            (tree / mount_point).mkdir(mode=0o755, exist_ok=True)
        report("writing the image layer", _LAYER_START)
        total = max(_tree_bytes(tree), 1)
        command = " ".join(recipe.mmdebstrap_command(Path("ROOTFS"))[: -len(recipe.sources)])
        image = assemble_image(
            store,
            tree,
            epoch=epoch,
            packages=packages,
            recipe=recipe.key(),
            created_by=command,
            title=f"stockade-runner-{name}",
            layer_progress=lambda done: report(
                "writing the image layer",
                _LAYER_START + (_LAYER_END - _LAYER_START) * min(done / total, 1.0),
            ),
        )
        manifest = image.manifest
        report("unpacking and verifying the root filesystem (umoci)", 0.9)
        store.rootfs(manifest.digest)
        _write_build_info(
            store,
            manifest.digest,
            recipe=recipe,
            fingerprint=fingerprint,
            epoch=epoch,
            uncompressed=image.uncompressed_size,
        )
        store.tag(manifest, name)
        record = store.resolve(manifest.digest)
        report(f"built {name} {manifest.digest[:19]}", 1.0)
        return record
    finally:
        remove_tree(work)  # unmounts whatever mmdebstrap may have left mounted in the tree


def installed_packages(tree: Path) -> tuple[tuple[str, str], ...]:
    """(package, version) of every package dpkg considers installed in ``tree``, sorted."""
    done = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={tree / 'var/lib/dpkg'}",
            "--show",
            "--showformat=${db:Status-Abbrev}\t${Package}\t${Version}\n",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ImageBuildError(f"dpkg-query failed: {done.stderr.strip()}")
    rows = (line.split("\t") for line in done.stdout.splitlines())
    return tuple(sorted((pkg, ver) for status, pkg, ver in rows if status.startswith("ii")))


def _epoch(source_date_epoch: int | None) -> int:
    if source_date_epoch is not None:
        return source_date_epoch
    from_env = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(from_env) if from_env.isdigit() else int(time.time())


def _up_to_date(
    store: ImageStore,
    name: str,
    recipe: Recipe,
    fingerprint: str | None,
    source_date_epoch: int | None,
) -> ImageRecord | None:
    """The image ``name`` points at, if a build now would give the same one (or could not run).

    When the archive cannot be reached, a build could not run either: the image of the same
    recipe is kept rather than replaced by a failure.
    """
    try:
        current = store.resolve(name)
    except ImageNotFound:
        return None
    try:
        info = json.loads((store.meta_dir(current.digest) / BUILD_INFO).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if info.get("recipe") != recipe.key():
        return None
    if fingerprint is not None and info.get("apt_fingerprint") != fingerprint:
        return None
    if source_date_epoch is not None and info.get("source_date_epoch") != source_date_epoch:
        return None
    return current


def _mmdebstrap(recipe: Recipe, tree: Path, epoch: int, report: Progress) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("mmdebstrap is not installed", hint="apt-get install mmdebstrap")
    if os.geteuid() != 0:
        # mmdebstrap would fall back to its unshare mode, whose files belong to sub-uids: the layer
        # would record those owners instead of root. Refuse rather than build a wrong image.
        raise ImageBuildError(
            "building a runner image needs root",
            hint="run `sudo stockade image build` (or `make image` as root); using images does not",
        )
    report("starting mmdebstrap", 0.0)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "LC_ALL": "C.UTF-8"}
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(
        recipe.mmdebstrap_command(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip())
            for needle, message, fraction in _STAGES:
                if needle in line:
                    report(message, fraction)
    if proc.returncode != 0:
        raise ImageBuildError(
            f"mmdebstrap failed ({proc.returncode}): " + " | ".join(tail)[-800:],
            hint="check that the Debian mirror is reachable and mmdebstrap runs as root",
        )


def _tree_bytes(tree: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(tree):
        for file in files:
            try:
                total += os.lstat(os.path.join(dirpath, file)).st_size
            except OSError:
                continue
    return total


def _write_build_info(
    store: ImageStore,
    digest: str,
    *,
    recipe: Recipe,
    fingerprint: str | None,
    epoch: int,
    uncompressed: int,
) -> None:
    """Facts about this build that are not part of the image (so they do not change its digest)."""
    meta = store.meta_dir(digest)
    meta.mkdir(parents=True, exist_ok=True)
    info = {
        "recipe": recipe.key(),
        "apt_fingerprint": fingerprint,
        "source_date_epoch": epoch,
        "built_at": oci.rfc3339(int(time.time())),
        "uncompressed_size": uncompressed,
        "sources": list(recipe.sources),
    }
    (meta / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
