"""A private mount namespace for runtime calls on hybrid-cgroup hosts.

crun refuses to run when it sees both v1 controllers and the cgroup2 mount at
``/sys/fs/cgroup/unified`` ("cgroups in hybrid mode not supported"). We keep one long-lived
helper process in its own mount namespace with that mount removed, and run the runtime inside
it through ``nsenter``: one extra exec per call, far cheaper than a new namespace per call.
Propagation is *slave*: workspace mounts made on the host appear inside, nothing flows back.
The helper reads its stdin, so it exits by itself when the executor's process dies.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from stockade.errors import SandboxUnavailable

UNIFIED = Path("/sys/fs/cgroup/unified")


class PrivateMountNamespace:
    """A helper holding a mount namespace without the hybrid cgroup2 mount."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def prefix(self) -> list[str]:
        """Argv prefix that runs a command inside the namespace (starts the helper once)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            return ["nsenter", f"--mount=/proc/{self._proc.pid}/ns/mnt", "--"]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @staticmethod
    def _start() -> subprocess.Popen[bytes]:
        script = f"umount {UNIFIED} && echo ready && exec cat"
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        if proc.stdout.readline().strip() != b"ready":
            proc.kill()
            err = proc.stderr.read().decode(errors="replace").strip()
            proc.wait()
            raise SandboxUnavailable(
                f"cannot make a mount namespace without {UNIFIED}: {err or 'helper died'}",
                hint="crun needs root, unshare(1) and nsenter(1) on a hybrid-cgroup host",
            )
        return proc

    def close(self) -> None:
        """Stop the helper (its namespace goes with it)."""
        with self._lock:
            if self._proc is not None:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                for f in (self._proc.stdout, self._proc.stderr):
                    if f is not None:
                        f.close()
                self._proc = None
