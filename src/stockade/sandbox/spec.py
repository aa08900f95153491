"""``SandboxSpec``: everything a backend needs to build one sandbox, as a frozen value.

The spec is what the pure builders (:func:`stockade.sandbox.oci.oci_config`,
:func:`stockade.sandbox.bwrap.bwrap_argv`) turn into a runtime configuration; it carries no
handles and does no I/O, so the same spec always yields the same configuration.

Layout inside every sandbox (what is writable is listed; everything else is read-only):

    /            the image root filesystem, read-only, shared by all jobs
    /workspace   the job's workspace (host tmpfs of ``disk_bytes``), writable by the job uid
    /tmp         a tmpfs of ``tmp_bytes``, private to the job
    /dev/shm     a small tmpfs (64 MiB), private to the job
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stockade.errors import InvalidInput
from stockade.sandbox.interface import MiB

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: Unprivileged host range the sandbox's user namespace maps onto (container 0 -> HOST_ID_BASE).
#: Nothing on the host owns these ids, so a process that escaped would own nothing.
HOST_ID_BASE = 1_300_000_000
ID_RANGE = 65536
JOB_UID = 1000
JOB_GID = 1000
SHM_BYTES = 64 * MiB


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (cgroup and filesystem sizes)."""

    memory_bytes: int
    pids: int
    cpus: float
    tmp_bytes: int
    disk_bytes: int
    nofile: int = 16384  # the executor caps it to its own hard limit (a namespace cannot raise it)

    def __post_init__(self) -> None:
        if self.memory_bytes < 16 * MiB:
            raise InvalidInput("memory limit below 16Mi", hint="ask for at least 16Mi")
        if self.pids < 8:
            raise InvalidInput("pids limit below 8", hint="ask for at least 8 pids")
        if not 0.01 <= self.cpus <= 1024:
            raise InvalidInput(f"cpus out of range: {self.cpus}", hint="ask for 0.01 to 1024")
        if self.tmp_bytes < MiB or self.disk_bytes < MiB:
            raise InvalidInput("tmp/disk size below 1Mi", hint="ask for at least 1Mi")


@dataclass(frozen=True)
class SeccompProfile:
    """An OCI ``linux.seccomp`` object, kept as the exact JSON text it was read from."""

    path: Path
    text: str


@dataclass(frozen=True)
class SandboxSpec:
    """One sandbox: root filesystem, workspace, first process, identity and limits."""

    sandbox_id: str
    rootfs: Path
    workspace: Path
    limits: Limits
    seccomp: SeccompProfile
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/workspace"
    uid: int = JOB_UID
    gid: int = JOB_GID
    hostname: str = "stockade"
    host_id_base: int = HOST_ID_BASE
    id_range: int = ID_RANGE
    cgroup_parent: str = "stockade"
    #: A network namespace to join (``/proc/PID/fd/N``, see :mod:`stockade.sandbox.netns`);
    #: None gives the sandbox a new, empty one (loopback down, no way out at all).
    netns_path: str | None = None

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.sandbox_id):
            raise InvalidInput(f"bad sandbox id {self.sandbox_id!r}",
                               hint="use letters, digits, '_', '.', '-' (max 64)")
        if not self.argv:
            raise InvalidInput("a sandbox needs a command", hint="pass argv")
        if not (self.rootfs.is_absolute() and self.workspace.is_absolute()):
            raise InvalidInput("rootfs and workspace must be absolute paths", hint="resolve them")
        if not (0 < self.uid < self.id_range and 0 < self.gid < self.id_range):
            raise InvalidInput("the job must run as a mapped, non-root uid/gid",
                               hint=f"use 1..{self.id_range - 1}")
        if self.host_id_base < 65536:
            raise InvalidInput("host id base overlaps ordinary host users",
                               hint="map onto an unused range above 65536")

    @property
    def cgroups_path(self) -> str:
        """Cgroup of this sandbox, relative to each hierarchy's root: unique per sandbox."""
        return f"/{self.cgroup_parent}/{self.sandbox_id}"

    @property
    def host_uid(self) -> int:
        """The host uid the job's processes and files appear as."""
        return self.host_id_base + self.uid

    @property
    def host_gid(self) -> int:
        return self.host_id_base + self.gid
