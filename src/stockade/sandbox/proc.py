"""Running the runtime's short commands with a deadline, without sleep-polling for them.

``subprocess.run(timeout=...)`` waits by polling with growing sleeps, which adds milliseconds to
every runtime call (a sandbox makes three or four). A pidfd turns readable the moment the child
exits, so the wait costs nothing past the child's own time, and the deadline still holds.
"""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Sequence
from typing import IO, Any


def run_bounded(argv: Sequence[str], *, timeout: float, stdin: IO[Any] | int | None = None,
                stdout: IO[Any] | int | None = None,
                stderr: IO[Any] | int | None = None) -> int:
    """Run ``argv`` to its end and return its exit status; kill it past ``timeout`` seconds
    (raising :class:`subprocess.TimeoutExpired`). Output must go to files, not pipes."""
    proc = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr)
    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:  # no pidfds (old kernel): the standard wait
        return proc.wait(timeout=timeout)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        proc.kill()
        proc.wait()
        raise subprocess.TimeoutExpired(list(argv), timeout)
    return proc.wait()
