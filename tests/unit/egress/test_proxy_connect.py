"""CONNECT tunnels: TLS passed through, server names checked, addresses refused by any spelling."""

from __future__ import annotations

import socket
import ssl

import pytest

from stockade.egress import Decision, EventKind, Limits, Reason, deny_range, suggest

from .conftest import TIMEOUT, Job, MakeJob, TlsServer, closed_by_peer, read_response, request


def open_tunnel(job: Job, authority: str) -> socket.socket:
    sock = job.connect()
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200 Connection established"), head
    return sock


def tls_client(tls_server: TlsServer) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_server.ca_file))
    return context


def test_tls_passes_through_untouched(make_job: MakeJob, tls_server: TlsServer) -> None:
    job = make_job([f"tls.test:{tls_server.port}"])
    raw = open_tunnel(job, f"tls.test:{tls_server.port}")
    with tls_client(tls_server).wrap_socket(raw, server_hostname="tls.test") as tls:
        assert tls.recv(100) == b"hello over tls\n"  # the server's own certificate verified
        tls.sendall(b"ping")
    (event,) = job.wait_events(1)
    assert (event.kind, event.decision, event.reason) == (EventKind.CONNECT, Decision.ALLOW,
                                                          Reason.ALLOWED)
    assert event.ip == "127.0.0.1" and event.rule == f"tls.test:{tls_server.port}"
    assert event.bytes_up > 100 and event.bytes_down > 100


def test_sni_must_equal_the_connect_host(make_job: MakeJob, tls_server: TlsServer) -> None:
    job = make_job([f"tls.test:{tls_server.port}"])
    raw = open_tunnel(job, f"tls.test:{tls_server.port}")
    context = tls_client(tls_server)
    context.check_hostname = False
    with pytest.raises((ssl.SSLError, OSError)), \
            context.wrap_socket(raw, server_hostname="evil.test") as tls:
        tls.recv(100)
    raw.close()
    (event,) = job.wait_events(1)
    assert event.decision is Decision.DENY and event.reason is Reason.SNI_MISMATCH
    assert "evil.test" in event.detail


def test_a_hello_without_sni_is_refused_for_a_named_host(make_job: MakeJob,
                                                         tls_server: TlsServer) -> None:
    job = make_job([f"tls.test:{tls_server.port}", f"127.0.0.1:{tls_server.port}"])
    context = tls_client(tls_server)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = open_tunnel(job, f"tls.test:{tls_server.port}")
    with pytest.raises((ssl.SSLError, OSError)), \
            context.wrap_socket(raw, server_hostname=None) as tls:
        tls.recv(100)
    raw.close()
    assert job.wait_events(1)[0].reason is Reason.SNI_MISSING
    raw = open_tunnel(job, f"127.0.0.1:{tls_server.port}")  # an address: nothing to compare
    with context.wrap_socket(raw, server_hostname=None) as tls:
        assert tls.recv(100) == b"hello over tls\n"
    assert job.wait_events(2)[1].reason is Reason.ALLOWED


def test_a_hello_split_over_many_writes(make_job: MakeJob, tls_server: TlsServer) -> None:
    job = make_job([f"tls.test:{tls_server.port}"])
    raw = open_tunnel(job, f"tls.test:{tls_server.port}")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_client(tls_server).wrap_bio(incoming, outgoing, server_hostname="tls.test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for start in range(0, len(hello), 7):
        raw.sendall(hello[start : start + 7])
    assert raw.recv(1)  # the server answered: the hello got through whole
    raw.close()
    assert job.wait_events(1)[0].reason is Reason.ALLOWED


def test_non_tls_bytes_pass_as_plain_tunnel_data(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"])
    with open_tunnel(job, f"web.test:{port}") as sock:
        sock.sendall(b"GET /inside HTTP/1.1\r\nHost: web.test\r\n\r\n")
        status, _, body = read_response(sock)
    assert status == 200 and body.startswith(b"path=/inside")


def test_a_denied_connect_gets_403(make_job: MakeJob) -> None:
    job = make_job(["pypi.org"])
    status, _, body = request(job, "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n")
    assert status == 403 and body.startswith(b"egress denied: evil.test:443 is not in the")
    (event,) = job.wait_events(1)
    assert event.kind is EventKind.CONNECT and event.reason is Reason.NOT_LISTED


FORBIDDEN = [
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "0xa9.0xfe.43518",
    "[::1]", "0.0.0.0", "0", "10.0.0.1", "127.1", "[::ffff:127.0.0.1]", "[::ffff:a9fe:a9fe]",
    "192.168.0.1", "100.64.0.1", "[fe80::1]", "[fd00::1]", "224.0.0.1", "255.255.255.255",
    "203.0.113.1",
]


@pytest.mark.parametrize("spelling", FORBIDDEN)
def test_forbidden_addresses_are_refused_in_every_spelling(make_job: MakeJob,
                                                           spelling: str) -> None:
    # Audit mode allows every host the allowlist misses: only the address check stands here.
    job = make_job([], audit=True, allow_cidrs=())
    status, headers, _ = request(job, f"CONNECT {spelling}:80 HTTP/1.1\r\nHost: {spelling}:80\r\n\r\n")
    assert status == 403 and headers["x-stockade-egress"] == "forbidden_address"
    status, _, _ = request(job, f"GET http://{spelling}/ HTTP/1.1\r\nHost: {spelling}\r\n\r\n")
    assert status == 403
    events = job.wait_events(2)
    assert all(e.reason is Reason.FORBIDDEN_ADDRESS and e.decision is Decision.DENY
               and not e.would_deny for e in events)
    assert suggest(events) == []


def test_a_listed_address_is_still_refused_by_range(make_job: MakeJob) -> None:
    job = make_job(["169.254.169.254"], allow_cidrs=())
    status, _, body = request(job, "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n"
                                   "Host: 169.254.169.254\r\n\r\n")
    assert status == 403 and b"link-local" in body and b"RFC 3927" in body


@pytest.mark.parametrize("name", ["rebind.test", "metadata.test", "mixed.test", "v6.test"])
def test_names_resolving_to_forbidden_addresses_are_refused(make_job: MakeJob, name: str) -> None:
    job = make_job([name], allow_cidrs=())
    status, _, body = request(job, f"CONNECT {name}:443 HTTP/1.1\r\nHost: {name}:443\r\n\r\n")
    assert status == 403 and b"resolves to" in body
    (event,) = job.wait_events(1)
    assert event.reason is Reason.FORBIDDEN_ADDRESS and event.rule == name


def test_one_forbidden_answer_refuses_the_name(make_job: MakeJob) -> None:
    job = make_job(["mixed.test"])  # 127.0.0.0/8 allowed: 127.0.0.1 passes, 10.0.0.1 does not
    status, _, body = request(job, "CONNECT mixed.test:443 HTTP/1.1\r\nHost: mixed.test:443\r\n\r\n")
    assert status == 403 and b"10.0.0.1" in body


def test_unknown_names_fail_with_502(make_job: MakeJob) -> None:
    job = make_job(["nowhere.test"])
    status, headers, _ = request(job, "CONNECT nowhere.test:443 HTTP/1.1\r\n"
                                      "Host: nowhere.test:443\r\n\r\n")
    assert status == 502 and headers["x-stockade-egress"] == "dns_failure"


def test_the_callers_addresses_stay_refused(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], deny_ranges=(deny_range("127.0.0.1/32", "the server"),))
    status, headers, body = request(job, f"GET http://web.test:{port}/ HTTP/1.1\r\n"
                                         f"Host: web.test:{port}\r\n\r\n")
    assert status == 403 and headers["x-stockade-egress"] == "denied_address"
    assert b"the server" in body


def test_audit_mode_records_would_be_denials(make_job: MakeJob, web, tls_server: TlsServer) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"], audit=True)
    assert request(job, f"GET http://web.test:{port}/ HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n")[0] == 200
    assert request(job, f"GET http://web2.test:{port}/ HTTP/1.1\r\nHost: web2.test:{port}\r\n\r\n")[0] == 200
    raw = open_tunnel(job, f"tls.test:{tls_server.port}")
    with tls_client(tls_server).wrap_socket(raw, server_hostname="tls.test") as tls:
        assert tls.recv(100) == b"hello over tls\n"
    events = job.wait_events(3)
    assert [(e.host, e.decision, e.would_deny) for e in events] == [
        ("web.test", Decision.ALLOW, False), ("web2.test", Decision.ALLOW, True),
        ("tls.test", Decision.ALLOW, True)]
    assert suggest(events) == [f"tls.test:{tls_server.port}", f"web2.test:{port}"]
    assert job.unregister().would_deny == 2


def test_slow_start_of_a_tunnel_is_bounded(make_job: MakeJob, tls_server: TlsServer) -> None:
    job = make_job([f"tls.test:{tls_server.port}"], limits=Limits(header_timeout_s=0.3))
    with open_tunnel(job, f"tls.test:{tls_server.port}") as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # a hello that never completes
        sock.settimeout(TIMEOUT)
        assert closed_by_peer(sock)
    assert job.wait_events(1)[0].reason is Reason.HEADER_TIMEOUT
