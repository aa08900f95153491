"""Removing build trees safely: never walk into something mounted under them.

mmdebstrap (root mode) mounts /proc, /sys and device nodes inside the tree it builds and unmounts
them when it is done; if it is killed, or an unmount fails, they stay. ``shutil.rmtree`` would
then walk into the host's /proc or /dev. So mounts under a tree are lazily unmounted first, and a
tree that still has any is left in place (and reported) instead of being deleted.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    prefix = str(path.resolve())
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return [prefix]  # cannot tell: treat it as mounted
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_tree(path: Path) -> bool:
    """Delete ``path`` after unmounting whatever is mounted under it; False if it had to stay."""
    if not path.exists():
        return True
    for point in mounts_under(path):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    remaining = mounts_under(path)
    if remaining:
        log.warning("not removing %s: still mounted under it: %s", path, ", ".join(remaining))
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()
