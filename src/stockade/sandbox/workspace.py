"""The per-job workspace: a size-bounded tmpfs on the host, owned by the job's mapped uid.

A tmpfs makes the disk limit exact (``size=``), keeps one job's files out of every other's
reach (it is mounted under a 0700 job directory) and disappears entirely on unmount. It is
populated by copying the source tree in (``.git`` included) and handing it to the job's uid.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from pathlib import Path

from stockade.errors import InfrastructureError

_MS_NOSUID, _MS_NODEV = 0x2, 0x4
_MS_BIND, _MS_REC, _MS_SHARED = 0x1000, 0x4000, 1 << 20
_MNT_DETACH = 0x2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount_tmpfs(target: Path, size: int, uid: int, gid: int, mode: str = "0755") -> None:
    """Mount a tmpfs of ``size`` bytes owned by uid:gid at ``target`` (nosuid, nodev)."""
    data = f"size={size},mode={mode},uid={uid},gid={gid}".encode()
    rc = _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs",
                     ctypes.c_ulong(_MS_NOSUID | _MS_NODEV), data)
    if rc != 0:
        err = ctypes.get_errno()
        raise InfrastructureError(f"cannot mount the workspace tmpfs on {target}: "
                                  f"{os.strerror(err)}", hint="the executor must run as root")


def _is_shared_mount_point(path: Path) -> bool | None:
    """True/False for a mount point that is/is not shared; None if ``path`` is none."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(path):
            optional = fields[6 : fields.index("-")]
            return any(f.startswith("shared:") for f in optional)
    return None


def ensure_shared_mount(path: Path) -> bool:
    """Make ``path`` a shared mount point, so workspaces mounted under it on the host also
    appear in the runtime's private mount namespace (a *slave* of this one). True when it
    bind-mounted ``path`` onto itself to do so (the caller unmounts it when done)."""
    state = _is_shared_mount_point(path)
    if state:
        return False
    target = str(path).encode()
    if state is None and _libc.mount(target, target, None, ctypes.c_ulong(_MS_BIND), None):
        raise InfrastructureError(f"cannot bind-mount {path} onto itself: "
                                  f"{os.strerror(ctypes.get_errno())}",
                                  hint="the executor must run as root")
    if _libc.mount(None, target, None, ctypes.c_ulong(_MS_SHARED | _MS_REC), None):
        raise InfrastructureError(f"cannot make {path} a shared mount: "
                                  f"{os.strerror(ctypes.get_errno())}",
                                  hint="the executor must run as root")
    return state is None


def umount(target: Path, *, lazy: bool = False) -> bool:
    """Unmount ``target``; True when it was unmounted."""
    rc = _libc.umount2(str(target).encode(), _MNT_DETACH if lazy else 0)
    return bool(rc == 0)


def create_workspace(path: Path, size: int, uid: int, gid: int,
                     source: Path | None) -> None:
    """Mount a fresh tmpfs of ``size`` bytes at ``path`` and copy ``source`` into it."""
    path.mkdir(mode=0o755)
    mount_tmpfs(path, size, uid, gid)
    fill_workspace(path, uid, gid, source)


def fill_workspace(path: Path, uid: int, gid: int, source: Path | None) -> None:
    """Copy ``source`` into the mounted workspace ``path`` and hand it to uid:gid."""
    if source is None:
        return
    if not source.is_dir():
        raise InfrastructureError(f"workspace source {source} is not a directory",
                                  hint="pass the checked-out tree")
    # cp -a keeps modes, links and .git as they are; ownership is then handed to the job
    # (chown also clears setuid/setgid bits: nothing in the workspace is setuid-root).
    copy = subprocess.run(["cp", "-a", "--", f"{source}/.", str(path)],
                          capture_output=True, text=True, check=False)
    if copy.returncode != 0:
        raise InfrastructureError(f"cannot copy the workspace: {copy.stderr.strip()}",
                                  hint="the workspace source may be larger than the disk limit")
    own = subprocess.run(["chown", "-R", "-P", f"{uid}:{gid}", "--", str(path)],
                         capture_output=True, text=True, check=False)
    if own.returncode != 0:
        raise InfrastructureError(f"cannot hand the workspace to the job: {own.stderr.strip()}",
                                  hint="the executor must run as root")


def remove_workspace(path: Path) -> None:
    """Unmount (lazily if still busy) and remove the workspace mount point."""
    if path.is_mount() and not umount(path):
        umount(path, lazy=True)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
