"""Per-job limits and malformed input: each ends with an error or a close, and an event."""

from __future__ import annotations

import contextlib
import socket
import time

from stockade.egress import Decision, Limits, Reason

from .conftest import TIMEOUT, MakeJob, closed_by_peer, read_response, request


def test_malformed_request_line_gets_400(make_job: MakeJob) -> None:
    job = make_job(["web.test"])
    status, headers, _ = request(job, "GARBAGE\r\n\r\n")
    assert status == 400 and headers["x-stockade-egress"] == "bad_request"
    assert job.wait_events(1)[0].reason is Reason.BAD_REQUEST


def test_oversized_head_gets_431(make_job: MakeJob) -> None:
    job = make_job(["web.test"], limits=Limits(max_header_bytes=4096))
    raw = "GET http://web.test/ HTTP/1.1\r\nHost: web.test\r\n" + "X-Pad: " + "a" * 8000 + "\r\n\r\n"
    with job.connect() as sock:
        with contextlib.suppress(OSError):  # the proxy may answer and close before reading all
            sock.sendall(raw.encode())
        status, _, _ = read_response(sock)
    assert status == 431
    assert job.wait_events(1)[0].reason is Reason.HEADER_TOO_LARGE


def test_slowloris_is_cut_while_other_jobs_are_served(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    slow = make_job([f"web.test:{port}"], limits=Limits(header_timeout_s=0.5))
    other = make_job([f"web.test:{port}"])
    with slow.connect() as stuck:
        stuck.sendall(b"GET http://web.test/ HTTP/1.1\r\nHost: web")  # ... and nothing more
        started = time.monotonic()
        for _ in range(5):  # served at once, while the slow head is pending
            assert request(other, f"GET http://web.test:{port}/ok HTTP/1.1\r\n"
                                  f"Host: web.test:{port}\r\n\r\n")[0] == 200
            assert request(slow, f"GET http://web.test:{port}/ok HTTP/1.1\r\n"
                                 f"Host: web.test:{port}\r\n\r\n")[0] == 200
        assert time.monotonic() - started < 5  # not stalled behind the slow head (loose bound)
        status, _, _ = read_response(stuck)
    assert status == 408
    assert any(e.reason is Reason.HEADER_TIMEOUT for e in slow.wait_events(6))


def test_connection_cap_over_the_job(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], limits=Limits(max_connections=2))
    for _ in range(2):
        assert request(job, f"GET http://web.test:{port}/ HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n")[0] == 200
    status, headers, _ = request(job, f"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n")
    assert status == 429 and headers["x-stockade-egress"] == "connection_limit"
    assert job.wait_events(3)[2].reason is Reason.CONNECTION_LIMIT


def test_open_connection_cap(make_job: MakeJob) -> None:
    job = make_job([], limits=Limits(max_open=2))
    held = [job.connect() for _ in range(2)]
    time.sleep(0.1)
    with job.connect() as third:
        assert closed_by_peer(third)
    events = job.wait_events(1)
    assert events[0].reason is Reason.CONNECTION_LIMIT
    for sock in held:
        sock.close()


def test_byte_cap_cuts_a_tunnel(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], limits=Limits(max_bytes=100_000))
    with job.connect() as sock:
        sock.sendall(f"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n"
                     f"GET /bytes/1000000 HTTP/1.1\r\nHost: web.test\r\n\r\n".encode())
        received = 0
        try:
            while chunk := sock.recv(65536):
                received += len(chunk)
        except ConnectionResetError:
            pass
    assert received <= 100_000 + 100
    (event,) = job.wait_events(1)
    assert event.decision is Decision.DENY and event.reason is Reason.BYTE_LIMIT
    counters = job.unregister()
    assert counters.bytes_up + counters.bytes_down <= 100_000


def test_byte_cap_cuts_plain_http(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], limits=Limits(max_bytes=50_000))
    with job.connect() as sock:
        sock.sendall(f"GET http://web.test:{port}/bytes/1000000 HTTP/1.1\r\n"
                     f"Host: web.test:{port}\r\n\r\n".encode())
        assert closed_by_peer(sock)
    (event,) = job.wait_events(1)
    assert event.reason is Reason.BYTE_LIMIT
    counters = job.unregister()
    assert counters.bytes_up + counters.bytes_down <= 50_000


def test_idle_tunnel_is_closed(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], limits=Limits(idle_timeout_s=0.3))
    with job.connect() as sock:
        sock.sendall(f"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
        sock.settimeout(TIMEOUT)
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: web.test\r\n\r\n")  # then nothing
        assert closed_by_peer(sock)
    (event,) = job.wait_events(1)
    assert event.reason is Reason.IDLE_TIMEOUT and event.decision is Decision.ALLOW


def test_connection_time_limit(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], limits=Limits(max_connection_s=0.5))
    with job.connect() as sock:
        sock.sendall(f"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
        sock.settimeout(TIMEOUT)
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:  # busy enough never to be idle
                sock.sendall(b"GET /keep HTTP/1.1\r\nHost: web.test\r\n\r\n")
                if not sock.recv(65536):
                    break
                time.sleep(0.05)
        except OSError:
            pass
    (event,) = job.wait_events(1)
    assert event.reason is Reason.TIME_LIMIT and event.decision is Decision.DENY


def test_unregister_closes_open_connections(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"])
    with job.connect() as sock:
        sock.sendall(f"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
        sock.settimeout(TIMEOUT)
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        counters = job.unregister()
        assert closed_by_peer(sock)
    assert counters.closed_open == 1 and counters.connections == 1
    (event,) = job.events
    assert event.reason is Reason.JOB_ENDED
    try:
        socket.create_connection(("127.0.0.1", job.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused  # the listener is closed
