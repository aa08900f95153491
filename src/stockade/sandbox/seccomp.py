"""The shipped seccomp profile (``seccomp.json``, OCI ``linux.seccomp`` format).

OCI runtimes take the JSON as is; the bwrap backend compiles the same JSON to a BPF program
with pyseccomp (see :func:`compile_bpf`), so every backend enforces the same rules.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from stockade.sandbox.spec import SeccompProfile

PROFILE_NAME = "seccomp.json"


@functools.cache
def default_profile() -> SeccompProfile:
    """The profile shipped with Stockade."""
    ref = resources.files("stockade.sandbox").joinpath(PROFILE_NAME)
    return SeccompProfile(path=Path(str(ref)), text=ref.read_text())


def load_profile(path: Path) -> SeccompProfile:
    """A profile from an operator-supplied file (validated as JSON with the keys we need)."""
    text = path.read_text()
    data = json.loads(text)
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise ValueError(f"{path}: not an OCI seccomp profile (no defaultAction)")
    return SeccompProfile(path=path, text=text)


_OPS = {"SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
        "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}


def _action(sc: Any, rule: dict[str, Any]) -> Any:
    name = rule["action"]
    if name == "SCMP_ACT_ALLOW":
        return sc.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(int(rule.get("errnoRet", 1)))
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return sc.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return sc.KILL_PROCESS
    raise ValueError(f"seccomp action {name} is not supported by the bwrap compiler")


def compile_bpf(profile: SeccompProfile) -> bytes:
    """The profile as a classic-BPF program for ``bwrap --seccomp FD`` (native arch only)."""
    import pyseccomp as sc

    data = json.loads(profile.text)
    flt = sc.SyscallFilter(defaction=_action(sc, {"action": data["defaultAction"]}))
    for rule in data.get("syscalls", []):
        action = _action(sc, rule)
        args = [
            sc.Arg(int(a["index"]), getattr(sc, _OPS[a["op"]]), int(a["value"]),
                   int(a.get("valueTwo", 0)))
            for a in rule.get("args", [])
        ]
        for name in rule["names"]:
            try:
                flt.add_rule(action, name, *args)
            except (ValueError, RuntimeError, OSError):
                continue  # a syscall this architecture does not have
    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.seek(0)
        return out.read()


def bpf_fd(profile: SeccompProfile) -> int:
    """An inheritable memfd holding the compiled BPF program."""
    fd = os.memfd_create("stockade-seccomp", 0)
    os.write(fd, compile_bpf(profile))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
