"""The job's output masked on the agent, before a line leaves the host.

Every line goes through one :class:`~stockade.masking.Masker` per job: the secrets the broker
handed the job (registered before the step that gets them starts), their encodings, and known
token shapes. The masker may hold a short line back until the next one arrives (a secret printed
one character per line is masked once its lines are joined), so each line's step, stream and
time wait beside it in order. A :class:`~stockade.masking.LeakDetector` then looks at what is
about to leave: a registered secret or the job's canary still present means masking failed.
On a fail-closed tier that stops the job and asks the server to hold its log for an operator.
"""

from __future__ import annotations

import secrets as random
import threading
from collections import deque
from collections.abc import Callable, Iterable

from stockade.masking import ALL_ENCODINGS, Encoding, LeakDetector, Masker
from stockade.sandbox.interface import OutputLine

LEAK_LINE = ("a secret survived masking in this job's output: the job is stopped and its log "
             "is held for an operator")


class JobMasker:
    """Masks one job's output lines in order; thread-safe (the executor and the agent feed it)."""

    def __init__(self, emit: Callable[[OutputLine], None], *, fail_closed: bool,
                 on_leak: Callable[[], None],
                 encodings: Iterable[Encoding] = ALL_ENCODINGS) -> None:
        self._emit = emit
        self._fail_closed = fail_closed
        self._on_leak = on_leak
        self._lock = threading.Lock()
        # The canary joins the secrets with the first of them: a job without secrets pays for
        # no pattern database (the known token shapes are masked all the same).
        self.canary = "stockade-canary-" + random.token_urlsafe(18)
        self._secrets: list[str] = [self.canary]
        # ``encodings`` narrows only what is masked (tests use it to stand in for an encoding
        # masking does not cover); the leak check always looks for every form.
        self._masker = Masker(encodings=encodings)
        self._detector = LeakDetector([], canaries=[self.canary])
        self._pending: deque[OutputLine] = deque()
        self.leaked = False

    def add_secrets(self, values: list[str]) -> None:
        """Register values a step is about to get: nothing shown after this can reveal them."""
        fresh = [v for v in values if v not in self._secrets]
        if not fresh:
            return
        with self._lock:
            first = len(self._secrets) == 1
            self._secrets += fresh
            self._masker.add(*([self.canary] if first else []), *fresh)
            self._detector = LeakDetector(self._secrets[1:], canaries=[self.canary])

    def put(self, line: OutputLine) -> None:
        """Mask ``line`` (and release any line it completes)."""
        with self._lock:
            self._pending.append(line)
            out = self._masker.mask_lines([line.text])
            self._release(out)

    def flush(self) -> None:
        """Release every held line (a step or the job ended)."""
        with self._lock:
            self._release(self._masker.flush_lines())

    def _release(self, texts: list[str]) -> None:
        leaked = False
        meta: OutputLine | None = None
        for text in texts:
            meta = self._pending.popleft()
            shown = text
            if self._detector.check(text):
                leaked = True
                shown = "[line withheld: it still held a secret after masking]"
            self._emit(OutputLine(meta.step, meta.stream, shown, meta.ts))
        if leaked and meta is not None and not self.leaked:
            self.leaked = True
            if self._fail_closed:
                self._on_leak()  # the hold rides with the batch that carries the line below
                self._emit(OutputLine(-1, "system", LEAK_LINE, meta.ts))

    def mask_text(self, text: str) -> str:
        """``text`` (an egress event's host or detail) with every registered secret masked."""
        with self._lock:
            return self._masker.mask(text)
