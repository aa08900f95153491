"""Unpack one image of the layout into the root filesystem cache, with Debian's ``umoci``.

umoci checks every blob against its digest and the layer against its diff_id as it extracts, so
a cached root filesystem is known to be exactly the image it is named after. The unpack happens in
a scratch directory and is renamed into place: readers see no root filesystem or a whole one.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from stockade.images.errors import ImageBuildError


def unpack_rootfs(layout: Path, tag: str, target: Path, work: Path) -> None:
    """Extract image ``tag`` of ``layout`` to ``target`` (absent) using the empty dir ``work``.

    ``work`` is removed afterwards, whatever happens.
    """
    umoci = shutil.which("umoci")
    if umoci is None:
        shutil.rmtree(work, ignore_errors=True)
        raise ImageBuildError("umoci is not installed", hint="apt-get install umoci (make deps)")
    try:
        bundle = work / "bundle"
        command = [umoci, "unpack", "--image", f"{layout}:{tag}", str(bundle)]
        if os.geteuid() != 0:
            command.insert(2, "--rootless")  # keeps files owned by the caller, who cannot chown
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageBuildError(
                f"umoci unpack of {tag} failed: {done.stderr.strip()[-500:]}",
                hint="the layout may be damaged; rebuild with `stockade image build --force`",
            )
        rootfs = bundle / "rootfs"
        # The top directory must not be writable by anyone but root: jobs run as another uid, and
        # the sandbox mounts it read-only on top of that.
        os.chmod(rootfs, 0o755)  # noqa: S103 (world-readable is needed, writable is not)
        _drop_world_write(rootfs)
        os.replace(rootfs, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _drop_world_write(rootfs: Path) -> None:
    """Clear the world-write bit everywhere (the image's /tmp, /var/tmp, /run/lock have it).

    Inside a sandbox those paths are read-only or covered by the sandbox's own tmpfs anyway; on
    the host, this keeps a job's uid from writing into the shared tree even if a mount were
    ever made writable by mistake.
    """
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if mode & stat.S_IWOTH and not stat.S_ISLNK(mode):
                os.chmod(path, stat.S_IMODE(mode) & ~stat.S_IWOTH)
