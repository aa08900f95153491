"""Pid 1 of a sandbox: a reaper that holds the namespaces open between steps.

Orphans of a step (double-forked daemons) are re-parented to pid 1 and must be reaped, or their
zombies would count against the pids limit. Signals are blocked and taken with
``sigwaitinfo``, so a child exiting between "reap" and "wait" is never missed. When pid 1 dies,
the kernel kills every other process of the pid namespace: that is how a job ends.
"""

from __future__ import annotations

from pathlib import Path

REAPER = """\
import os, signal
sigs = {signal.SIGCHLD, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    if signal.sigwaitinfo(sigs).si_signo == signal.SIGTERM:
        os._exit(0)
"""

# A shell's `wait` calls waitpid(-1): it reaps every child, orphans included, as they exit.
SHELL_REAPER = "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"


def init_argv(rootfs: Path) -> tuple[str, ...]:
    """The pid 1 command for an image: the shell reaper (starts in a fraction of python's
    time), or the python one for an image without /bin/sh."""
    if (rootfs / "bin/sh").exists() or (rootfs / "bin").is_symlink():
        return ("/bin/sh", "-c", SHELL_REAPER)
    return ("/usr/bin/python3", "-I", "-S", "-c", REAPER)
