"""Factories for sandbox unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockade.sandbox.seccomp import default_profile
from stockade.sandbox.spec import Limits, SandboxSpec

MiB = 1024**2


@pytest.fixture
def make_spec() -> Callable[..., SandboxSpec]:
    """Build a SandboxSpec with sensible defaults; override any field by keyword."""

    def make(**overrides: Any) -> SandboxSpec:
        fields: dict[str, Any] = {
            "sandbox_id": "job-1-abcd",
            "rootfs": Path("/var/lib/stockade/images/rootfs/sha256-x"),
            "workspace": Path("/var/lib/stockade/work/job-1-abcd/workspace"),
            "limits": Limits(memory_bytes=512 * MiB, pids=256, cpus=1.5,
                             tmp_bytes=64 * MiB, disk_bytes=128 * MiB),
            "seccomp": default_profile(),
            "argv": ("/bin/sh", "-c", "true"),
        }
        fields.update(overrides)
        return SandboxSpec(**fields)

    return make
