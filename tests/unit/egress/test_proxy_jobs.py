"""Many jobs on one proxy: concurrent connections, and no job sees another's traffic."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from stockade.egress import Allowlist, EgressError, JobEgress, Reason

from .conftest import MakeJob, read_response


def test_200_concurrent_connections_from_two_jobs(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    jobs = {"a": make_job([f"a.test:{port}"]), "b": make_job([f"b.test:{port}"])}
    sockets: list[tuple[str, int, socket.socket]] = []
    try:
        for index in range(100):
            for name, job in jobs.items():
                sockets.append((name, index, job.connect()))
        for name, index, sock in sockets:  # every request sent before any is read
            target = f"{name}.test:{port}"
            sock.sendall(f"GET http://{target}/{name}/{index} HTTP/1.1\r\nHost: {target}\r\n"
                         "Connection: close\r\n\r\n".encode())
        for name, index, sock in sockets:
            status, _, body = read_response(sock)
            assert status == 200
            assert body == f"path=/{name}/{index} host={name}.test:{port}".encode()
    finally:
        for _, _, sock in sockets:
            sock.close()
    for name, job in jobs.items():
        events = job.wait_events(100)
        assert len(events) == 100
        assert {e.host for e in events} == {f"{name}.test"}
        assert {e.job_id for e in events} == {job.job_id}
        assert sorted(e.path for e in events) == sorted(f"/{name}/{i}" for i in range(100))
        assert all(e.reason is Reason.ALLOWED for e in events)
        counters = job.unregister()
        assert counters.connections == 100 and counters.upstream_connections == 100


def test_a_job_cannot_use_another_jobs_allowlist(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    a = make_job([f"a.test:{port}"])
    b = make_job([f"b.test:{port}"])
    with b.connect() as sock:
        sock.sendall(f"GET http://a.test:{port}/ HTTP/1.1\r\nHost: a.test:{port}\r\n\r\n".encode())
        assert read_response(sock)[0] == 403
    assert b.wait_events(1)[0].reason is Reason.NOT_LISTED
    assert a.events == []


def test_a_job_id_is_registered_once(proxy, make_job: MakeJob) -> None:  # type: ignore[no-untyped-def]
    job = make_job([])
    listener = socket.create_server(("127.0.0.1", 0))
    with pytest.raises(EgressError):
        proxy.register(listener, JobEgress(job.job_id, "r", Allowlist()), lambda e: None)
    listener.close()
    job.unregister()
    with pytest.raises(EgressError):
        job.unregister()


def test_a_failing_callback_does_not_break_the_proxy(proxy, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    listener = socket.create_server(("127.0.0.1", 0))
    calls = []

    def broken(event: object) -> None:
        calls.append(event)
        raise RuntimeError("callback bug")

    proxy.register(listener, JobEgress("cb", "r", Allowlist.parse([f"web.test:{port}"]),
                                       allow_cidrs=(ipaddress.ip_network("127.0.0.0/8"),)),
                   broken)
    for _ in range(2):
        with socket.create_connection(listener.getsockname(), timeout=5) as sock:
            sock.sendall(f"GET http://web.test:{port}/ HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
            assert read_response(sock)[0] == 200
    assert proxy.unregister("cb").requests == 2

