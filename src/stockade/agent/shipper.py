"""Ship a lease's output to the server exactly once: numbered chunks, batched, resent until acked.

Every line gets the next ``seq`` of its lease when it is *queued* (so numbering is contiguous and
never depends on the network). A single sender thread posts every chunk above the server's
``acked_seq``; the server stores by seq idempotently, so resending after a timeout can neither
duplicate nor lose a line. Sending starts as soon as a line arrives; while a request is in flight
new lines pile up and leave together in the next batch, which keeps first-line latency low and
batches large under load without a fixed flush timer.

Step reports travel through the same thread at their exact place in the stream: after the lines
queued before them and before the lines queued after them. So a step is reported ``running``
before its first line is stored (a log reader can name it) and never finished ahead of its output.
They ride in a log batch that reaches their place (``LogBatch.steps``; the server records them in
the batch's transaction, only once every line of the batch and before it is stored), so a report
costs no request of its own. A report with no line to ride with (a step that starts before it
prints) waits up to ``REPORT_HOLD_S`` for one, and goes alone after that or at the job's end.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from stockade.agent.protocol import LeaseLost, ProtocolError
from stockade.api.agent import LogAck, LogBatch, LogChunk, StepReport
from stockade.errors import StockadeError
from stockade.sandbox.interface import OutputLine

MAX_CHUNK_TEXT = 65536  # LogChunk.text limit; longer lines are split, never cut
MAX_BATCH_CHUNKS = 500
MAX_BATCH_BYTES = 512 * 1024  # stays well under the server's request-size limit
REPORT_HOLD_S = 0.5  # a lone step report waits this long for a line to ride with


@dataclass(frozen=True)
class ShipperStats:
    chunks: int  # chunks numbered (last seq + 1)
    requests: int  # log POSTs made, resends included
    resends: int  # chunks sent more than once


class LogShipper:
    """Numbers, batches and delivers one lease's log chunks and step reports."""

    def __init__(
        self,
        send_logs: Callable[[LogBatch], LogAck],
        *,
        retry_delay_s: float = 0.2,
        max_retry_delay_s: float = 5.0,
        on_error: Callable[[StockadeError], None] | None = None,
    ) -> None:
        self._send_logs = send_logs
        self._retry_delay_s = retry_delay_s
        self._max_retry_delay_s = max_retry_delay_s
        self._on_error = on_error
        self._cond = threading.Condition()
        # Kept until the job is completed: if the server ever says it misses a chunk, we still
        # hold it and can send it again.
        self._chunks: list[LogChunk] = []
        self._reports: deque[tuple[int, StepReport]] = deque()  # (after seq, report)
        self._acked = -1
        self._sent_max = -1
        self._closing = False
        self._flushing = False  # the job ended: nothing more to wait for, send what is queued
        self._hold_until = 0.0
        self._lost = False
        self._hold = False  # every batch from now on asks the server to hold the job's log
        self._requests = 0
        self._resends = 0
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)

    # -- producer side (any thread) -----------------------------------------------------------

    def start(self) -> LogShipper:
        self._thread.start()
        return self

    def put(self, line: OutputLine) -> None:
        """Queue one output line (the executor's ``on_output``); never blocks on the network."""
        text = line.text
        pieces = [text[i : i + MAX_CHUNK_TEXT] for i in range(0, len(text), MAX_CHUNK_TEXT)] or [""]
        with self._cond:
            for piece in pieces:
                seq = len(self._chunks)
                self._chunks.append(
                    LogChunk(seq=seq, step=line.step, stream=line.stream, ts=line.ts, text=piece)
                )
            self._cond.notify()

    def hold(self) -> None:
        """Ask the server to hold this job's log for an operator (masking failed)."""
        with self._cond:
            self._hold = True
            self._cond.notify()

    def system(self, text: str) -> None:
        """Queue a line of the agent's own (checkout, outcome) in the job's log."""
        self.put(OutputLine(step=-1, stream="system", text=text, ts=time.time()))

    def report(self, report: StepReport) -> None:
        """Queue a step report, delivered after every line queued before it."""
        with self._cond:
            if not self._reports:
                self._hold_until = time.monotonic() + REPORT_HOLD_S
            self._reports.append((len(self._chunks) - 1, report))
            self._cond.notify()

    @property
    def last_seq(self) -> int:
        with self._cond:
            return len(self._chunks) - 1

    @property
    def lost(self) -> bool:
        """True once the server said the lease is gone; nothing more will be delivered."""
        with self._cond:
            return self._lost

    def resend_all(self) -> None:
        """Forget what the server acked and send every chunk again (after ``logs_incomplete``)."""
        with self._cond:
            self._acked = -1
            self._cond.notify()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued chunk and report is delivered; False on timeout or lost lease."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            while not self._lost and (self._acked < len(self._chunks) - 1 or self._reports):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return not self._lost

    def close(self, timeout_s: float) -> bool:
        """Flush, then stop the sender thread. Returns whether everything was delivered."""
        delivered = self.flush(timeout_s)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        return delivered

    def stats(self) -> ShipperStats:
        with self._cond:
            return ShipperStats(len(self._chunks), self._requests, self._resends)

    # -- sender thread -----------------------------------------------------------------------

    def _next_work(self) -> tuple[list[LogChunk], list[StepReport]] | None:
        """The next request: the lines above the ack with every report whose place they reach;
        or, once every line is delivered, the reports left (after their hold)."""
        with self._cond:
            while True:
                if self._closing or self._lost:
                    return None
                if self._acked < len(self._chunks) - 1:
                    batch: list[LogChunk] = []
                    size = 0
                    for chunk in self._chunks[self._acked + 1 :]:
                        size += len(chunk.text) + 64
                        if batch and (len(batch) >= MAX_BATCH_CHUNKS or size > MAX_BATCH_BYTES):
                            break
                        batch.append(chunk)
                    return batch, self._reports_at(batch[-1].seq)
                if self._reports:
                    held = 0.0 if self._flushing else self._hold_until - time.monotonic()
                    if held <= 0:
                        return [], self._reports_at(self._acked)
                    self._cond.wait(held)
                    continue
                self._cond.wait()

    def _reports_at(self, place: int) -> list[StepReport]:
        # Every queued report up to ``place`` (the front ones: places only grow).
        return [report for at, report in self._reports if at <= place]

    def _run(self) -> None:
        delay = self._retry_delay_s
        while (work := self._next_work()) is not None:
            batch, reports = work
            try:
                if not self._deliver(batch, reports):
                    # The server stored nothing new: back off instead of spinning.
                    self._sleep(delay)
                    delay = min(delay * 2, self._max_retry_delay_s)
                    continue
                delay = self._retry_delay_s
            except LeaseLost as exc:
                with self._cond:
                    self._lost = True
                    self._cond.notify_all()
                self._error(exc)
            except ProtocolError as exc:
                # Reports the server will never take are dropped rather than block every later
                # line behind them; a refused log batch is retried (seq-safe).
                self._error(exc)
                if reports and not batch:
                    self._drop_reports(len(reports))
                self._sleep(delay)
                delay = min(delay * 2, self._max_retry_delay_s)
            except StockadeError as exc:
                self._error(exc)
                self._sleep(delay)
                delay = min(delay * 2, self._max_retry_delay_s)

    def _drop_reports(self, count: int) -> None:
        with self._cond:
            for _ in range(count):
                self._reports.popleft()
            self._cond.notify_all()

    def _deliver(self, batch: list[LogChunk], reports: list[StepReport]) -> bool:
        """Send one batch; True when the server's contiguous ack moved forward or it recorded
        the reports."""
        with self._cond:
            self._requests += 1
            if batch:
                self._resends += sum(1 for c in batch if c.seq <= self._sent_max)
                self._sent_max = max(self._sent_max, batch[-1].seq)
        ack = self._send_logs(LogBatch(chunks=batch, steps=reports, hold=self._hold))
        recorded = bool(reports) and ack.steps_recorded == len(reports)
        with self._cond:
            # The server's acked_seq is the highest *contiguous* seq it holds: anything above it
            # that we sent will simply be sent again, and stored once. Its word wins, also when it
            # is lower than what we believed (then we resend from there).
            before = self._acked
            self._acked = min(ack.acked_seq, len(self._chunks) - 1)
            if recorded:
                for _ in reports:
                    self._reports.popleft()
            self._cond.notify_all()
            return self._acked > before or recorded

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            if not self._closing:
                self._cond.wait(seconds)

    def _error(self, exc: StockadeError) -> None:
        if self._on_error is not None:
            self._on_error(exc)
