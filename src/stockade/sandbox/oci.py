"""Pure builders of the OCI runtime configuration (``config.json``) and exec process objects.

Everything security-relevant about an OCI sandbox is decided here, from a :class:`SandboxSpec`
only, so it can be read in one place and unit-tested exhaustively (see
``tests/unit/sandbox/test_oci.py``, which also validates the output against the runtime-spec
JSON schema).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stockade.sandbox.spec import SHM_BYTES, SandboxSpec

OCI_VERSION = "1.0.2"
CPU_PERIOD_US = 100_000
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Paths runc and crun mask by default: kernel state a job has no business reading.
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
#: Paths runc and crun make read-only by default (sysctls, sysrq, irq affinity, ...), plus
#: /sys/fs/cgroup: on cgroup v1 crun 1.8 leaves the tmpfs holding the hierarchies writable.
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
                  "/sys/fs/cgroup")

NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "user", "cgroup")
_NO_CAPS: dict[str, list[str]] = {
    k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")
}


def env_list(env: Mapping[str, str]) -> list[str]:
    """``KEY=value`` entries: defaults (PATH, HOME, LANG) overridden by ``env``, sorted."""
    merged = {"PATH": DEFAULT_PATH, "HOME": "/workspace", "LANG": "C.UTF-8", **env}
    for key in merged:
        if not key or "=" in key or "\0" in key:
            raise ValueError(f"bad environment variable name {key!r}")
    return [f"{k}={v}" for k, v in sorted(merged.items())]


def _rlimits(spec: SandboxSpec) -> list[dict[str, Any]]:
    return [
        # No core dumps: they would land in the workspace and can carry secrets.
        {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
        {"type": "RLIMIT_NOFILE", "hard": spec.limits.nofile, "soft": spec.limits.nofile},
    ]


def process_config(spec: SandboxSpec, argv: Sequence[str], env: Mapping[str, str],
                   cwd: str | None = None) -> dict[str, Any]:
    """The OCI ``process`` object for ``argv`` run as the job user with no privileges at all."""
    if not argv:
        raise ValueError("empty argv")
    return {
        "terminal": False,
        "user": {"uid": spec.uid, "gid": spec.gid, "additionalGids": [spec.gid]},
        "args": list(argv),
        "env": env_list(env),
        "cwd": cwd or spec.cwd,
        "capabilities": {k: list(v) for k, v in _NO_CAPS.items()},
        "noNewPrivileges": True,
        "rlimits": _rlimits(spec),
        "oomScoreAdj": 500,  # the job, not the host's services, is what the OOM killer picks
    }


def _mounts(spec: SandboxSpec) -> list[dict[str, Any]]:
    nosuid_nodev = ["nosuid", "nodev"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={SHM_BYTES}"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        # The only host path in the sandbox. nosuid: a setuid file in it cannot escalate.
        {"destination": "/workspace", "type": "bind", "source": str(spec.workspace),
         "options": ["rbind", "rw", *nosuid_nodev]},
        # Owned by the job user too: runc 1.1 does not apply mode=1777 as given.
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": [*nosuid_nodev, "mode=1777", f"uid={spec.uid}", f"gid={spec.gid}",
                     f"size={spec.limits.tmp_bytes}"]},
    ]


def _resources(spec: SandboxSpec) -> dict[str, Any]:
    lim = spec.limits
    return {
        "devices": [{"allow": False, "access": "rwm"}],
        # swap == limit: memory+swap may not exceed the limit, so a bomb is killed, not swapped.
        "memory": {"limit": lim.memory_bytes, "swap": lim.memory_bytes},
        "pids": {"limit": lim.pids},
        "cpu": {"quota": max(1000, round(lim.cpus * CPU_PERIOD_US)), "period": CPU_PERIOD_US},
    }


def _namespaces(spec: SandboxSpec) -> list[dict[str, str]]:
    # A joined network namespace is the agent's: loopback and the proxy listener, nothing else,
    # owned by the host's user namespace so the job holds no capability over it.
    return [{"type": t, "path": spec.netns_path} if t == "network" and spec.netns_path
            else {"type": t} for t in NAMESPACES]


def oci_config(spec: SandboxSpec) -> dict[str, Any]:
    """The complete OCI runtime ``config.json`` for ``spec`` (a pure function of it)."""
    ids = [{"containerID": 0, "hostID": spec.host_id_base, "size": spec.id_range}]
    return {
        "ociVersion": OCI_VERSION,
        "process": process_config(spec, spec.argv, spec.env),
        "root": {"path": str(spec.rootfs), "readonly": True},
        "hostname": spec.hostname,
        "mounts": _mounts(spec),
        "annotations": {"org.stockade.sandbox-id": spec.sandbox_id},
        "linux": {
            "namespaces": _namespaces(spec),
            "uidMappings": ids,
            "gidMappings": [dict(m) for m in ids],
            "cgroupsPath": spec.cgroups_path,
            "resources": _resources(spec),
            "seccomp": json.loads(spec.seccomp.text),
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            "rootfsPropagation": "private",
        },
    }
