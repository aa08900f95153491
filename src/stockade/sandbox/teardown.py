"""Proof that a destroyed sandbox left nothing behind.

After the backend destroyed a sandbox and the workspace was removed, :func:`find_leftovers`
looks for anything of it that still exists: a process in its pid namespace or network
namespace, a process or directory of its cgroup, a mount under its job directory (on the host
and in the runtime's private mount namespace), a pinned namespace, runtime state, or a file.
Anything found is a leftover; the executor raises an alarm about it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stockade.sandbox.cgroups import SandboxCgroup


@dataclass(frozen=True)
class SandboxTrace:
    """What identifies a sandbox on the host, recorded while it ran."""

    job_dir: Path
    cgroup: SandboxCgroup
    pid_ns: str | None  # e.g. "pid:[4026532301]"
    net_ns: str | None
    state_paths: tuple[Path, ...]
    mount_ns_pids: tuple[int, ...] = ()  # other mount namespaces to check (runtime helper)


def namespaces_of(pid: int) -> tuple[str | None, str | None]:
    """The (pid, net) namespace ids of a host process, or Nones if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid"), os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None, None


def _is_zombie(pid: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone
    return stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))


def _processes_in(namespaces: set[str]) -> list[int]:
    """Live processes in any of ``namespaces``. A zombie holds nothing but its pid (its
    namespaces, memory and files are released at exit), so it does not count."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        for kind in ("pid", "net"):
            try:
                if (os.readlink(f"/proc/{entry.name}/ns/{kind}") in namespaces
                        and not _is_zombie(entry.name)):
                    found.append(int(entry.name))
                    break
            except OSError:
                break  # the process exited while we looked
    return found


def _mount_lines(pids: Iterable[int | str]) -> list[str]:
    lines: list[str] = []
    for pid in pids:
        try:
            lines += Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        except OSError:
            continue
    return lines


def find_leftovers(trace: SandboxTrace) -> list[str]:
    """Human-readable descriptions of everything of the sandbox that still exists."""
    found: list[str] = []
    namespaces = {ns for ns in (trace.pid_ns, trace.net_ns) if ns}
    if namespaces:
        found += [f"process {pid} still in the job's namespaces"
                  for pid in _processes_in(namespaces)]
    found += [f"process {pid} still in the job's cgroup" for pid in trace.cgroup.pids()]
    found += [f"cgroup {d} still exists" for d in trace.cgroup.existing()]
    job_dir = str(trace.job_dir)
    for line in _mount_lines(["self", *trace.mount_ns_pids]):
        fields = line.split()
        mount_point = fields[4] if len(fields) > 4 else ""
        if mount_point == job_dir or mount_point.startswith(job_dir + "/"):
            found.append(f"mount {mount_point} still present")
        elif trace.net_ns and trace.net_ns in line:
            found.append(f"network namespace {trace.net_ns} still pinned at {mount_point}")
    found += [f"runtime state {p} still exists" for p in trace.state_paths if p.exists()]
    if trace.job_dir.exists():
        found.append(f"job directory {trace.job_dir} still exists")
    return found
