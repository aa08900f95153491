"""The log shipper delivers every line exactly once, in order, whatever the network does."""

from __future__ import annotations

import threading
import time

import pytest

from stockade.agent.protocol import LeaseLost, ServerUnavailable
from stockade.agent.shipper import MAX_CHUNK_TEXT, REPORT_HOLD_S, LogShipper
from stockade.api.agent import LogAck, LogBatch, StepReport
from stockade.sandbox.interface import OutputLine


class FlakyServer:
    """Stores chunks by seq like the real server (idempotent), and fails on demand.

    ``fail_before`` fails a request before storing anything; ``fail_after`` stores the chunks and
    then loses the answer (the agent must resend, and the resend must not duplicate).
    """

    def __init__(self) -> None:
        self.stored: dict[int, str] = {}
        self.received = 0
        self.reports: list[tuple[int, str]] = []
        self.fail_before: set[int] = set()  # request numbers
        self.fail_after: set[int] = set()
        self.lock = threading.Lock()

    def send(self, batch: LogBatch) -> LogAck:
        with self.lock:
            self.received += 1
            number = self.received
            if number in self.fail_before:
                raise ServerUnavailable("connection refused")
            for chunk in batch.chunks:
                self.stored.setdefault(chunk.seq, chunk.text)
            acked = -1
            while acked + 1 in self.stored:
                acked += 1
            recorded = 0
            if batch.steps and acked >= max((c.seq for c in batch.chunks), default=-1):
                self.reports.extend((r.index, r.status) for r in batch.steps)
                recorded = len(batch.steps)
            if number in self.fail_after:
                raise ServerUnavailable("read timeout")
            return LogAck(acked_seq=acked, steps_recorded=recorded)

    def lines(self) -> list[str]:
        return [self.stored[seq] for seq in sorted(self.stored)]


def line(text: str, step: int = 0) -> OutputLine:
    return OutputLine(step=step, stream="stdout", text=text, ts=time.time())


def test_every_line_arrives_once_in_order() -> None:
    server = FlakyServer()
    shipper = LogShipper(server.send).start()
    for i in range(1000):
        shipper.put(line(f"line {i}"))
    assert shipper.close(timeout_s=10)
    assert server.lines() == [f"line {i}" for i in range(1000)]
    assert shipper.last_seq == 999
    # Lines queued while a request is in flight leave together: far fewer requests than lines.
    assert server.received < 1000


def test_lost_answers_and_refused_requests_are_resent_without_duplicates() -> None:
    server = FlakyServer()
    server.fail_before = {1, 3}
    server.fail_after = {2, 4, 5}
    shipper = LogShipper(server.send, retry_delay_s=0.01).start()
    for i in range(50):
        shipper.put(line(f"line {i}"))
        if i % 10 == 0:
            time.sleep(0.01)
    assert shipper.close(timeout_s=10)
    assert server.lines() == [f"line {i}" for i in range(50)]
    assert len(server.stored) == 50
    assert shipper.stats().resends > 0


def test_server_that_forgot_chunks_gets_them_again() -> None:
    server = FlakyServer()
    shipper = LogShipper(server.send).start()
    for i in range(10):
        shipper.put(line(f"line {i}"))
    assert shipper.flush(timeout_s=5)
    del server.stored[3]  # as if the server lost a chunk it had acked
    shipper.resend_all()
    assert shipper.close(timeout_s=5)
    assert server.lines() == [f"line {i}" for i in range(10)]


def test_long_lines_are_split_never_cut() -> None:
    server = FlakyServer()
    shipper = LogShipper(server.send).start()
    text = "x" * (2 * MAX_CHUNK_TEXT + 10)
    shipper.put(line(text))
    assert shipper.close(timeout_s=5)
    assert "".join(server.lines()) == text
    assert shipper.last_seq == 2


def test_step_reports_keep_their_place_in_the_stream() -> None:
    server = FlakyServer()
    seen: list[tuple[str, int]] = []  # (report, highest contiguous seq stored when recorded)

    def send(batch: LogBatch) -> LogAck:
        ack = server.send(batch)
        if ack.steps_recorded:
            seen.extend((f"{r.index} {r.status}", ack.acked_seq) for r in batch.steps)
        return ack

    shipper = LogShipper(send).start()
    shipper.report(StepReport(index=0, name="a", status="running"))
    shipper.put(line("step zero says hi"))
    shipper.put(line("and bye"))
    shipper.report(StepReport(index=0, name="a", status="success", exit_code=0))
    shipper.put(line("agent: job done", step=-1))
    assert shipper.close(timeout_s=5)
    assert server.lines() == ["step zero says hi", "and bye", "agent: job done"]
    # In order, and never recorded before the lines in front of it are stored.
    assert [name for name, _ in seen] == ["0 running", "0 success"]
    assert seen[1][1] >= 1
    assert server.reports == [(0, "running"), (0, "success")]


def test_a_report_before_any_line_waits_briefly_for_one_to_ride_with() -> None:
    server = FlakyServer()
    shipper = LogShipper(server.send).start()
    shipper.report(StepReport(index=0, name="a", status="running"))
    time.sleep(0.05)
    shipper.put(line("first"))
    assert shipper.flush(timeout_s=5)
    assert server.received == 1  # the report left with the line, not on its own
    shipper.report(StepReport(index=1, name="b", status="running"))  # a step that says nothing
    time.sleep(REPORT_HOLD_S + 0.3)
    assert server.reports == [(0, "running"), (1, "running")]  # sent alone after the hold
    assert shipper.close(timeout_s=5)


def test_a_report_rides_with_the_lines_before_it_and_waits_for_lost_ones() -> None:
    server = FlakyServer()
    server.fail_before = {1}  # the first batch never arrives: its report must not be recorded
    shipper = LogShipper(server.send, retry_delay_s=0.01)
    shipper.put(line("output"))
    shipper.report(StepReport(index=0, name="a", status="success", exit_code=0))
    shipper.start()
    assert shipper.close(timeout_s=5)
    assert server.lines() == ["output"]
    assert server.reports == [(0, "success")]
    assert server.received == 2  # the resend carried both; no request for the report alone


def test_lost_lease_stops_delivery() -> None:
    def send(_batch: LogBatch) -> LogAck:
        raise LeaseLost("gone")

    shipper = LogShipper(send).start()
    shipper.put(line("nobody will read this"))
    assert not shipper.flush(timeout_s=5)
    assert shipper.lost


@pytest.mark.parametrize("count", [0, 1])
def test_last_seq_counts_queued_lines(count: int) -> None:
    server = FlakyServer()
    shipper = LogShipper(server.send).start()
    for i in range(count):
        shipper.put(line(str(i)))
    assert shipper.close(timeout_s=5)
    assert shipper.last_seq == count - 1
