"""Plain absolute-URI HTTP through the proxy: allowed, denied, checked request by request."""

from __future__ import annotations

import json
import socket

from stockade.egress import Decision, EventKind, Reason, log_line

from .conftest import MakeJob, read_response, request


def test_allowed_request_is_forwarded_in_origin_form(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"])
    status, headers, body = request(
        job, f"GET http://web.test:{port}/hello?token=s3cret HTTP/1.1\r\nHost: web.test:{port}\r\n"
             "Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n\r\n")
    assert status == 200
    assert body == f"path=/hello?token=s3cret host=web.test:{port}".encode()
    assert "x-secret-hop" not in headers  # named by the upstream's Connection header: hop-by-hop
    (event,) = job.wait_events(1)
    assert (event.kind, event.decision, event.reason) == (EventKind.HTTP, Decision.ALLOW,
                                                          Reason.ALLOWED)
    assert (event.host, event.port, event.ip, event.status) == ("web.test", port, "127.0.0.1", 200)
    assert event.rule == f"web.test:{port}" and event.path == "/hello"
    assert "s3cret" not in repr(event)
    assert event.bytes_up > 0 and event.bytes_down > len(body)


def test_denied_host_gets_403_an_event_and_a_line(make_job: MakeJob, resolver) -> None:  # type: ignore[no-untyped-def]
    job = make_job(["pypi.org"])
    status, headers, body = request(job, "GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n")
    assert status == 403 and headers["x-stockade-egress"] == "not_listed"
    (event,) = job.wait_events(1)
    assert event.decision is Decision.DENY and event.reason is Reason.NOT_LISTED
    line = log_line(event)
    assert line == ("egress denied: evil.test:80 is not in the allowlist of tier untrusted "
                    "(allowed: pypi.org); add it to the tier's egress list in the policy, or run "
                    "in audit mode to see what the build needs")
    assert body.decode().strip() == line
    assert resolver.queries == []  # a denied name is never even resolved (no DNS exfiltration)


def test_host_header_must_name_the_uri_host(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"])
    status, _, _ = request(job, f"GET http://web.test:{port}/ HTTP/1.1\r\nHost: evil.test\r\n\r\n")
    assert status == 400
    status, _, _ = request(job, f"GET http://web.test:{port}/ HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert status == 400  # web.test means port 80, not the URI's port
    events = job.wait_events(2)
    assert {e.reason for e in events} == {Reason.HOST_MISMATCH}
    status, _, _ = request(job, f"GET http://WEB.test:{port}/ HTTP/1.1\r\nHost: web.TEST.:{port}\r\n\r\n")
    assert status == 200


def test_pipelined_requests_are_each_checked(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}", f"web2.test:{port}"])
    before = len(web.requests)
    with job.connect() as sock:
        sock.sendall((
            f"GET http://web.test:{port}/one HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n"
            f"GET http://web2.test:{port}/two HTTP/1.1\r\nHost: web2.test:{port}\r\n\r\n"
            f"GET http://other.test:{port}/three HTTP/1.1\r\nHost: other.test:{port}\r\n\r\n"
        ).encode())
        first, second, third = (read_response(sock) for _ in range(3))
    assert first[0] == 200 and first[2].startswith(b"path=/one host=web.test")
    assert second[0] == 200 and second[2].startswith(b"path=/two host=web2.test")
    assert third[0] == 403
    seen = web.requests[before:]
    assert [path for path, _, _ in seen] == ["/one", "/two"]  # /three never left the proxy
    assert seen[0][2] != seen[1][2]  # web2.test did not ride web.test's upstream connection
    events = job.wait_events(3)
    assert [(e.host, e.reason) for e in events] == [
        ("web.test", Reason.ALLOWED), ("web2.test", Reason.ALLOWED),
        ("other.test", Reason.NOT_LISTED)]
    assert job.unregister().upstream_connections == 2


def test_keep_alive_reuses_the_upstream_for_the_same_host(make_job: MakeJob, web) -> None:  # type: ignore[no-untyped-def]
    port = web.server_address[1]
    job = make_job([f"web.test:{port}"])
    with job.connect() as sock:
        for path in ("/a", "/b"):
            sock.sendall(f"GET http://web.test:{port}{path} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
            assert read_response(sock)[0] == 200
    job.wait_events(2)
    assert job.unregister().upstream_connections == 1


def test_origin_form_and_other_schemes_are_refused(make_job: MakeJob) -> None:
    job = make_job(["web.test"])
    status, _, body = request(job, "GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert status == 400 and b"origin-form" in body and b"absolute URI" in body
    status, _, body = request(job, "GET https://web.test/ HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert status == 400 and b"CONNECT" in body
    status, _, body = request(job, "GET ftp://web.test/ HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert status == 400
    status, _, body = request(job, "GET http://user@web.test/ HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert status == 400 and b"credentials" in body
    assert {e.reason for e in job.wait_events(4)} == {Reason.BAD_REQUEST}


def test_stockade_internal_is_served_by_the_proxy(make_job: MakeJob) -> None:
    job = make_job([])
    status, _, body = request(job, "GET http://stockade.internal/health HTTP/1.1\r\n"
                                   "Host: stockade.internal\r\n\r\n")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, _, body = request(job, "GET http://stockade.internal/nope?x=1 HTTP/1.1\r\n"
                                   "Host: stockade.internal\r\n\r\n")
    assert status == 404 and json.loads(body)["code"] == "not_found"
    status, _, _ = request(job, "CONNECT stockade.internal:443 HTTP/1.1\r\n"
                                "Host: stockade.internal:443\r\n\r\n")
    assert status == 403
    status, _, _ = request(job, "GET http://stockade.internal:8080/health HTTP/1.1\r\n"
                                "Host: stockade.internal:8080\r\n\r\n")
    assert status == 403
    events = job.wait_events(4)
    assert [(e.kind, e.reason, e.path) for e in events] == [
        (EventKind.INTERNAL, Reason.INTERNAL, "/health"),
        (EventKind.INTERNAL, Reason.INTERNAL, "/nope"),
        (EventKind.CONNECT, Reason.RESERVED_HOST, ""),
        (EventKind.INTERNAL, Reason.RESERVED_HOST, "/health"),
    ]


def test_a_custom_internal_handler_sees_headers_that_are_never_logged(make_job: MakeJob) -> None:
    seen = []

    async def handler(method, path, query, headers):  # type: ignore[no-untyped-def]
        seen.append((method, path, query, dict(headers)))
        return 200, [("content-type", "text/plain")], b"token-for-job"

    job = make_job([], internal=handler)
    with job.connect() as sock:
        sock.sendall(b"POST http://stockade.internal/token?audience=x HTTP/1.1\r\n"
                     b"Host: stockade.internal\r\nAuthorization: Bearer hunter2\r\n"
                     b"Content-Length: 11\r\n\r\nsecret-body")
        status, _, body = read_response(sock)
    assert status == 200 and body == b"token-for-job"
    assert seen == [("POST", "/token", "audience=x",
                     {"host": "stockade.internal", "authorization": "Bearer hunter2",
                      "content-length": "11"})]
    (event,) = job.wait_events(1)
    text = repr(event)
    assert "hunter2" not in text and "audience" not in text and "secret-body" not in text


def test_a_v6_literal_is_refused_by_address(make_job: MakeJob) -> None:
    job = make_job([], audit=True, allow_cidrs=())
    with socket.create_connection(("127.0.0.1", job.port), timeout=5) as sock:
        sock.sendall(b"GET http://[::1]:8080/ HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
        assert read_response(sock)[0] == 403
    (event,) = job.wait_events(1)
    assert event.reason is Reason.FORBIDDEN_ADDRESS and event.ip == "::1"
