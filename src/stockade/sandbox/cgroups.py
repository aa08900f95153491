"""The host's cgroup layout (v1, v2 or hybrid) and reading a sandbox cgroup's limit events.

Runtimes create and remove the cgroups; this module only finds them, reads why a job was
stopped (out-of-memory kills, pids-limit refusals) and, for teardown, says whether any remain.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Controllers a sandbox needs: a backend refuses to run without all of them.
REQUIRED_CONTROLLERS = ("memory", "pids", "cpu")


class CgroupMode(enum.StrEnum):
    V1 = "v1"
    V2 = "v2"
    HYBRID = "hybrid"  # v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified
    NONE = "none"


def detect_mode(root: Path = CGROUP_ROOT) -> CgroupMode:
    """How cgroups are mounted on this host."""
    if (root / "cgroup.controllers").exists():
        return CgroupMode.V2
    if not (root / "memory").is_dir() and not (root / "pids").is_dir():
        return CgroupMode.NONE
    if (root / "unified" / "cgroup.controllers").exists():
        return CgroupMode.HYBRID
    return CgroupMode.V1


def missing_controllers(mode: CgroupMode, root: Path = CGROUP_ROOT) -> list[str]:
    """Required controllers this host does not offer (empty when all are there)."""
    if mode is CgroupMode.NONE:
        return list(REQUIRED_CONTROLLERS)
    if mode is CgroupMode.V2:
        offered = set((root / "cgroup.controllers").read_text().split())
        return [c for c in REQUIRED_CONTROLLERS if c not in offered]
    return [c for c in REQUIRED_CONTROLLERS if not (root / c).is_dir()]


@dataclass(frozen=True)
class CgroupEvents:
    """Counters that say a limit stopped the job."""

    oom_kills: int
    pids_max_hits: int


@dataclass(frozen=True)
class SandboxCgroup:
    """The cgroup(s) of one sandbox: one directory on v2, one per hierarchy on v1."""

    mode: CgroupMode
    relpath: str  # e.g. "/stockade/<sandbox id>"
    root: Path = CGROUP_ROOT

    def dirs(self) -> list[Path]:
        """Every directory this cgroup has (or would have) on the host."""
        rel = self.relpath.lstrip("/")
        if self.mode is CgroupMode.V2:
            return [self.root / rel]
        if self.mode is CgroupMode.NONE:
            return []
        out = []
        for hierarchy in sorted(self.root.iterdir()):
            # cgroup2 "unified" in hybrid mode is not used by the runtime there
            if hierarchy.name != "unified" and (hierarchy / "cgroup.procs").exists():
                out.append(hierarchy / rel)
        return out

    def _file(self, controller: str, name: str) -> Path:
        rel = self.relpath.lstrip("/")
        if self.mode is CgroupMode.V2:
            return self.root / rel / name
        return self.root / controller / rel / name

    def events(self) -> CgroupEvents:
        """Current OOM-kill and pids-limit counters (0 when unreadable: the cgroup is gone)."""
        if self.mode is CgroupMode.V2:
            oom = _keyed(self._file("memory", "memory.events"), "oom_kill")
        else:
            oom = _keyed(self._file("memory", "memory.oom_control"), "oom_kill")
        pids = _keyed(self._file("pids", "pids.events"), "max")
        return CgroupEvents(oom_kills=oom, pids_max_hits=pids)

    def pids(self) -> list[int]:
        """Processes still in this cgroup (any hierarchy)."""
        found: set[int] = set()
        for d in self.dirs():
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                continue
        return sorted(found)

    def existing(self) -> list[Path]:
        """Directories of this cgroup that still exist (teardown wants none)."""
        return [d for d in self.dirs() if d.is_dir()]

    def remove(self) -> None:
        """Remove what the runtime left (empty cgroups only; the kernel refuses busy ones)."""
        for d in self.existing():
            try:
                os.rmdir(d)
            except OSError:
                continue


def _keyed(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return 0
    return 0
