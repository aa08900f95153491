"""A stop signal is recorded without waiting for any lock, so it cannot deadlock its own thread."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import signal, threading
from stockade.stopsignal import StopSignals

stop = StopSignals().install()
drained = threading.Event()
# The signal lands while this thread holds the event's lock, as it can inside Event.wait():
# a handler that set the event itself would wait for that lock for ever.
with drained._cond:
    signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGINT)  # only the first signal counts
while not drained.wait(0.01):
    if stop.received is not None:
        drained.set()
print(stop.name)
"""


def test_sigterm_while_the_main_thread_holds_a_lock_is_still_seen() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=60, check=False)  # the timeout only guards against a hang
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SIGTERM"
