"""Egress attacks: a job's only way out is its proxy, and the proxy lets out only what is allowed.

Real sandboxes (the default backend), a real network namespace per job, the real proxy of the
agent, and real servers on the host's loopback: an HTTP server and a TLS server on 127.0.0.2,
which the tests' tier allows by CIDR (``127.0.0.2/32``; the rest of 127/8 stays forbidden).
Names ending in ``.test`` resolve, host side, through a resolver of the test's own.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stockade.agent.network import JobNetwork, control_plane_ranges
from stockade.egress.allowlist import Allowlist
from stockade.egress.events import suggest
from stockade.egress.interface import EgressEvent, JobEgress, Limits, Reason
from stockade.egress.runner import EgressThread
from stockade.sandbox.executor import Executor
from stockade.sandbox.interface import JobResult, JobSpec, OutputLine, StepSpec

pytestmark = pytest.mark.root

UPSTREAM_IP = "127.0.0.2"
NAMES = {"allowed.test", "other.test", "a.test", "b.test", "denied.test"}


# -- servers on the host ----------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"upstream-ok {self.headers.get('Host', '')} {self.path}\n".encode()
        if self.path.startswith("/big/"):
            body = b"x" * int(self.path.rsplit("/", 1)[1])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "allowed.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("allowed.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Upstream:
    http_port: int
    tls_port: int
    cert: Path
    workspace: Path  # holds ca.pem for the jobs


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    tmp = tmp_path_factory.mktemp("upstream")
    cert, key = _certificate(tmp)
    plain = _Server((UPSTREAM_IP, 0), _Handler)
    tls = _Server((UPSTREAM_IP, 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    for server in (plain, tls):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    workspace = tmp / "workspace"
    workspace.mkdir()
    (workspace / "ca.pem").write_bytes(cert.read_bytes())
    yield Upstream(plain.server_address[1], tls.server_address[1], cert, workspace)
    for server in (plain, tls):
        server.shutdown()
        server.server_close()


async def _resolve(name: str, port: int) -> Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    # Host-side resolution as the proxy does it; *.test names are the tests' own.
    if name in NAMES:
        return [ipaddress.ip_address(UPSTREAM_IP)]
    if name == "rebind.test":  # a name whose DNS answer points at the host's loopback
        return [ipaddress.ip_address("127.0.0.1")]
    if name == "metadata.test":
        return [ipaddress.ip_address("169.254.169.254")]
    raise OSError(f"no such name {name}")


@pytest.fixture(scope="module")
def proxy() -> Iterator[EgressThread]:
    running = EgressThread(resolver=_resolve).start()
    yield running
    running.close()


@pytest.fixture(scope="module")
def executors(tmp_path_factory: pytest.TempPathFactory, image_store: Any) -> Iterator[list[Executor]]:
    root = tmp_path_factory.mktemp("egress-work")
    made = [Executor(image_store, work_root=root / f"slot-{i}") for i in range(2)]
    yield made
    for executor in made:
        executor.close()


# -- running a job ------------------------------------------------------------------------------

@dataclass
class Ran:
    result: JobResult
    out: str
    events: list[EgressEvent]
    lines: list[str] = field(default_factory=list)  # the deny lines the job's log got

    def reasons(self) -> list[Reason]:
        return [e.reason for e in self.events]


class _Recorder(JobNetwork):
    """The agent's JobNetwork, keeping the proxy's events as they are for the assertions."""

    def __init__(self, proxy: EgressThread, config: JobEgress, lines: list[str]) -> None:
        super().__init__(proxy, config, lines.append)
        self.raw: list[EgressEvent] = []

    def _on_event(self, event: EgressEvent) -> None:
        self.raw.append(event)
        super()._on_event(event)


def run(executor: Executor, proxy: EgressThread, upstream: Upstream, script: str, *,
        allow: Sequence[str] = (), audit: bool = False, limits: Limits | None = None,
        job_id: str = "egress-job", allow_cidrs: Sequence[str] = (f"{UPSTREAM_IP}/32",),
        deny_ranges: tuple[Any, ...] = ()) -> Ran:
    config = JobEgress(
        job_id=job_id, run_id="run-1", allowlist=Allowlist.parse(allow), tier="untrusted",
        audit=audit, limits=limits or Limits(),
        allow_cidrs=tuple(ipaddress.ip_network(c) for c in allow_cidrs),
        deny_ranges=deny_ranges,
    )
    lines: list[str] = []
    network = _Recorder(proxy, config, lines)
    out: list[OutputLine] = []
    job = JobSpec(job_id=job_id, image="default", steps=(StepSpec("attack", script),),
                  env={"HTTP_PORT": str(upstream.http_port), "TLS_PORT": str(upstream.tls_port)})
    result = executor.run_job(job, upstream.workspace, out.append, network=network)
    text = "\n".join(line.text for line in out)
    return Ran(result, text, network.raw, lines)


# -- allowed traffic ---------------------------------------------------------------------------

def test_an_allowed_host_works_over_http_and_connect_tls(executors: list[Executor],
                                                         proxy: EgressThread,
                                                         upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, """
        curl -sS --max-time 10 "http://allowed.test:$HTTP_PORT/plain"
        curl -sS --max-time 10 --cacert /workspace/ca.pem "https://allowed.test:$TLS_PORT/tls"
        """, allow=[f"allowed.test:{upstream.http_port}", f"allowed.test:{upstream.tls_port}"])
    assert ran.result.outcome.value == "success", ran.out
    assert f"upstream-ok allowed.test:{upstream.http_port} /plain" in ran.out
    assert f"upstream-ok allowed.test:{upstream.tls_port} /tls" in ran.out
    assert [(e.kind.value, e.decision.value) for e in ran.events] == [("http", "allow"),
                                                                      ("connect", "allow")]
    assert all(e.ip == UPSTREAM_IP and e.bytes_down > 0 for e in ran.events)


def test_no_proxy_never_bypasses_the_proxy(executors: list[Executor], proxy: EgressThread,
                                           upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, f"""
        echo "NO_PROXY=[$NO_PROXY] no_proxy=[$no_proxy]"
        NO_PROXY='*' curl -sS --max-time 5 "http://allowed.test:$HTTP_PORT/" && echo BYPASSED
        curl -sS --max-time 5 --noproxy '*' "http://{UPSTREAM_IP}:$HTTP_PORT/" && echo BYPASSED
        curl -sS --max-time 5 --noproxy '*' "http://127.0.0.1:$HTTP_PORT/" && echo BYPASSED
        true
        """, allow=[f"allowed.test:{upstream.http_port}"])
    assert "NO_PROXY=[] no_proxy=[]" in ran.out
    assert "BYPASSED" not in ran.out and "upstream-ok" not in ran.out


def test_stockade_internal_is_served_by_the_agent_not_forwarded(
        executors: list[Executor], proxy: EgressThread, upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, """
        curl -sS --max-time 5 http://stockade.internal/health; echo
        curl -s --max-time 5 -o /dev/null -w 'connect=%{http_code}\\n' -p https://stockade.internal/
        true
        """)
    assert '{"status":"ok"}' in ran.out.replace(" ", "")
    assert "connect=200" not in ran.out
    assert all(e.ip is None for e in ran.events)  # nothing was connected to for it


# -- denied traffic ----------------------------------------------------------------------------

def test_a_denied_host_gets_403_and_a_line_in_the_job_log(executors: list[Executor],
                                                          proxy: EgressThread,
                                                          upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, """
        curl -s --max-time 5 -o /dev/null -w 'http=%{http_code}\\n' "http://denied.test:$HTTP_PORT/"
        curl -s --max-time 5 -o /dev/null -w 'tls=%{http_code}\\n' "https://denied.test:$TLS_PORT/"
        true
        """, allow=["allowed.test"])
    assert "http=403" in ran.out
    assert "upstream-ok" not in ran.out
    assert ran.reasons() == [Reason.NOT_LISTED, Reason.NOT_LISTED]
    assert len(ran.lines) == 2
    line = ran.lines[0]
    assert f"denied.test:{upstream.http_port}" in line and "untrusted" in line
    assert "allowed.test" in line and "egress" in line  # the rule and how to allow it


def test_raw_tcp_udp_and_dns_go_nowhere(executors: list[Executor], proxy: EgressThread,
                                        upstream: Upstream) -> None:
    script = r"""
import socket
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "OPEN"
    except OSError as exc:
        return type(exc).__name__
for host, port in [("127.0.0.2", HTTP), ("127.0.0.1", HTTP), ("10.0.0.1", 80), ("1.1.1.1", 443),
                   ("169.254.169.254", 80), ("::1", HTTP), ("::ffff:127.0.0.2", HTTP)]:
    print("tcp", host, port, tcp(host, port))
query = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")
for host in ["1.1.1.1", "8.8.8.8", "127.0.0.53", "127.0.0.1", "10.0.0.1"]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        s.sendto(query, (host, 53))
        print("udp", host, "ANSWER", s.recv(512)[:2])
    except OSError as exc:
        print("udp", host, type(exc).__name__)
try:
    print("resolved", socket.getaddrinfo("example.com", 80))
except OSError as exc:
    print("getaddrinfo", type(exc).__name__)
"""
    (upstream.workspace / "net.py").write_text(script.replace("HTTP", str(upstream.http_port)))
    ran = run(executors[0], proxy, upstream, """
        python3 /workspace/net.py
        getent hosts example.com && echo GETENT-RESOLVED || echo getent-failed
        getent hosts allowed.test && echo GETENT-RESOLVED || echo getent-failed
        """, allow=["allowed.test"])
    assert ran.result.outcome.value == "success", ran.out
    assert "OPEN" not in ran.out and "ANSWER" not in ran.out
    assert "resolved" not in ran.out and "GETENT-RESOLVED" not in ran.out
    assert ran.out.count("tcp ") == 7 and ran.out.count("udp ") == 5
    assert ran.events == []  # none of it even reached the proxy


# -- addresses refused whatever their spelling -----------------------------------------------------

SPELLINGS = ["169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "[::1]",
             "0.0.0.0", "10.0.0.1", "[::ffff:127.0.0.1]", "127.0.0.1", "rebind.test",
             "metadata.test", "[fe80::1]", "100.64.0.1", "192.168.1.1"]


def test_forbidden_addresses_are_refused_in_every_spelling_even_in_audit_mode(
        executors: list[Executor], proxy: EgressThread, upstream: Upstream) -> None:
    # Audit mode lets any host through the allowlist: what stops these is the address rules.
    lines = [f"curl -s --max-time 5 -o /dev/null -w '{host} http=%{{http_code}}\\n' "
             f"'http://{host}/latest/meta-data/'" for host in SPELLINGS]
    lines += [f"curl -s --max-time 5 -o /dev/null -w '{host} connect=%{{http_code}}\\n' "
              f"-p 'https://{host}:443/'" for host in ("169.254.169.254", "rebind.test")]
    ran = run(executors[0], proxy, upstream, "\n".join([*lines, "true"]), audit=True)
    for host in SPELLINGS:
        assert f"{host} http=403" in ran.out, ran.out
    assert "connect=200" not in ran.out
    assert ran.events and all(e.decision.value == "deny" for e in ran.events)
    assert {e.reason for e in ran.events} == {Reason.FORBIDDEN_ADDRESS}
    refused = {e.ip for e in ran.events}
    assert {"169.254.169.254", "127.0.0.1", "::1", "0.0.0.0", "10.0.0.1"} <= refused


def test_the_control_plane_is_refused_even_when_allowlisted(
        executors: list[Executor], proxy: EgressThread, upstream: Upstream) -> None:
    # The agent refuses its server's addresses whatever the tier allows: here the "server" is the
    # upstream's own address, allowlisted and inside the allowed CIDR, and still out of reach.
    ranges = control_plane_ranges(f"http://{UPSTREAM_IP}:{upstream.http_port}")
    ran = run(executors[0], proxy, upstream, """
        curl -s --max-time 5 -o /dev/null -w 'api=%{http_code}\\n' "http://$UPSTREAM:$HTTP_PORT/api/v1/runs"
        true
        """.replace("$UPSTREAM", UPSTREAM_IP), allow=[f"{UPSTREAM_IP}:{upstream.http_port}"],
              deny_ranges=ranges)
    assert "api=403" in ran.out, ran.out
    assert ran.reasons() == [Reason.DENIED_ADDRESS]
    assert "upstream-ok" not in ran.out


# -- proxy tricks ------------------------------------------------------------------------------

TRICKS = r"""
import re, socket, ssl, sys
PROXY = ("127.0.0.1", 3128)
HTTP, TLS = int(sys.argv[1]), int(sys.argv[2])

def exchange(data, read=True):
    s = socket.create_connection(PROXY, timeout=5)
    s.sendall(data)
    out = b""
    try:
        while read:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    return out.decode(errors="replace")

# CONNECT to an allowed host, then a TLS hello naming another (domain fronting).
s = socket.create_connection(PROXY, timeout=5)
s.sendall(f"CONNECT allowed.test:{TLS} HTTP/1.1\r\nHost: allowed.test:{TLS}\r\n\r\n".encode())
print("connect-answer", s.recv(4096).split(b"\r\n")[0].decode())
ctx = ssl.create_default_context(cafile="/workspace/ca.pem")
ctx.check_hostname = False
try:
    ctx.wrap_socket(s, server_hostname="evil.test").do_handshake()
    print("fronting HANDSHAKE-OK")
except (OSError, ssl.SSLError) as exc:
    print("fronting refused", type(exc).__name__)

# An absolute URI whose Host header names another host.
print("host-mismatch", exchange(f"GET http://allowed.test:{HTTP}/x HTTP/1.1\r\nHost: denied.test\r\n"
                                 "Connection: close\r\n\r\n".encode()).split("\r\n")[0])

# Two pipelined requests to two hosts: each is checked on its own.
both = exchange(f"GET http://allowed.test:{HTTP}/first HTTP/1.1\r\nHost: allowed.test:{HTTP}\r\n\r\n"
                f"GET http://denied.test:{HTTP}/second HTTP/1.1\r\nHost: denied.test:{HTTP}\r\n"
                "Connection: close\r\n\r\n".encode())
print("pipelined", re.findall(r"HTTP/1\.1 \d{3}", both),
      "first" if "/first" in both else "-", "SECOND-LEAKED" if "/second" in both else "-")

# Malformed request line and oversized headers.
print("malformed", exchange(b"GARBAGE\r\n\r\n").split("\r\n")[0])
print("oversized", exchange(b"GET http://allowed.test/ HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n").split("\r\n")[0])
print("origin-form", exchange(b"GET / HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n").split("\r\n")[0])
"""


def test_proxy_tricks_are_refused(executors: list[Executor], proxy: EgressThread,
                                  upstream: Upstream) -> None:
    (upstream.workspace / "tricks.py").write_text(TRICKS)
    ran = run(executors[0], proxy, upstream, "python3 /workspace/tricks.py $HTTP_PORT $TLS_PORT",
              allow=[f"allowed.test:{upstream.http_port}", f"allowed.test:{upstream.tls_port}"])
    assert ran.result.outcome.value == "success", ran.out
    assert "HANDSHAKE-OK" not in ran.out and "fronting refused" in ran.out
    assert "host-mismatch HTTP/1.1 4" in ran.out  # 400 or 403, never forwarded
    assert "first" in ran.out and "SECOND-LEAKED" not in ran.out
    assert "pipelined ['HTTP/1.1 200', 'HTTP/1.1 403']" in ran.out, ran.out
    assert "malformed HTTP/1.1 400" in ran.out
    assert "oversized HTTP/1.1 431" in ran.out
    assert "origin-form HTTP/1.1 400" in ran.out
    reasons = set(ran.reasons())
    assert {Reason.SNI_MISMATCH, Reason.HOST_MISMATCH, Reason.NOT_LISTED, Reason.BAD_REQUEST,
            Reason.HEADER_TOO_LARGE} <= reasons


def test_a_slowloris_job_does_not_stall_another_job(executors: list[Executor],
                                                    proxy: EgressThread,
                                                    upstream: Upstream) -> None:
    slow: dict[str, Ran] = {}
    hold = """python3 - <<'EOF'
import socket, time
conns = []
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
    s.sendall(b"GET http://allowed.test/ HTTP/1.1\\r\\nX-Slow: ")
    conns.append(s)
time.sleep(4)
EOF"""
    worker = threading.Thread(target=lambda: slow.update(ran=run(
        executors[1], proxy, upstream, hold, allow=["allowed.test"], job_id="slow-job")))
    worker.start()
    try:
        threading.Event().wait(1.5)
        fast = run(executors[0], proxy, upstream, """
            for i in 1 2 3 4 5; do curl -sS --max-time 5 "http://allowed.test:$HTTP_PORT/$i"; done
            """, allow=[f"allowed.test:{upstream.http_port}"], job_id="fast-job")
    finally:
        worker.join(60)
    assert fast.result.outcome.value == "success", fast.out
    assert fast.out.count("upstream-ok") == 5
    assert all(e.job_id == "fast-job" for e in fast.events)
    assert all(e.job_id == "slow-job" for e in slow["ran"].events)


# -- audit mode, caps, load ----------------------------------------------------------------------

def test_audit_mode_records_what_enforce_would_deny_and_suggest_returns_it(
        executors: list[Executor], proxy: EgressThread, upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, """
        curl -sS --max-time 5 "http://allowed.test:$HTTP_PORT/a"
        curl -sS --max-time 5 "http://other.test:$HTTP_PORT/b"
        curl -sS --max-time 5 --cacert /workspace/ca.pem "https://allowed.test:$TLS_PORT/c"
        """, allow=[f"allowed.test:{upstream.http_port}"], audit=True)
    assert ran.result.outcome.value == "success", ran.out
    assert ran.out.count("upstream-ok") == 3
    flagged = [(e.host, e.port) for e in ran.events if e.would_deny]
    assert flagged == [("other.test", upstream.http_port), ("allowed.test", upstream.tls_port)]
    assert len(ran.lines) == 2 and all("would deny" in line for line in ran.lines)
    assert suggest(ran.events) == sorted([f"allowed.test:{upstream.tls_port}",
                                          f"other.test:{upstream.http_port}"])


def test_per_job_caps_on_connections_and_bytes(executors: list[Executor], proxy: EgressThread,
                                               upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, """
        for i in 1 2 3 4 5; do
          curl -s --max-time 5 -o /dev/null -w "conn$i=%{http_code}\\n" "http://allowed.test:$HTTP_PORT/$i"
        done
        """, allow=[f"allowed.test:{upstream.http_port}"], limits=Limits(max_connections=3))
    assert [f"conn{i}=200" in ran.out for i in range(1, 6)] == [True, True, True, False, False]
    assert ran.reasons().count(Reason.CONNECTION_LIMIT) == 2
    big = run(executors[0], proxy, upstream, """
        curl -s --max-time 10 -o /workspace/big "http://allowed.test:$HTTP_PORT/big/5000000" || true
        echo "got=$(stat -c %s /workspace/big)"
        """, allow=[f"allowed.test:{upstream.http_port}"], limits=Limits(max_bytes=1_000_000))
    got = int(big.out.split("got=")[1].split()[0])
    assert got < 1_000_000
    assert Reason.BYTE_LIMIT in big.reasons()


def test_200_concurrent_connections_from_two_jobs_never_cross(
        executors: list[Executor], proxy: EgressThread, upstream: Upstream) -> None:
    script = """python3 - <<'EOF'
import concurrent.futures, os, socket
host, port = os.environ["TARGET"], int(os.environ["HTTP_PORT"])
def get(i):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
    s.sendall(f"GET http://{host}:{port}/{host}/{i} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n"
              "Connection: close\\r\\n\\r\\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data.decode()
with concurrent.futures.ThreadPoolExecutor(100) as pool:
    bodies = list(pool.map(get, range(100)))
print("ok", sum(f"/{host}/{i}" in b for i, b in enumerate(bodies)))
print("foreign", sum(("a.test" if host == "b.test" else "b.test") in b for b in bodies))
EOF"""
    results: dict[str, Ran] = {}

    def job(name: str, executor: Executor) -> None:
        results[name] = run(executor, proxy, upstream, f"TARGET={name} " + script, allow=[f"{name}:{upstream.http_port}"], job_id=f"load-{name[0]}",
            limits=Limits(max_open=512, max_connections=1000))

    threads = [threading.Thread(target=job, args=(n, e))
               for n, e in (("a.test", executors[0]), ("b.test", executors[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for name in ("a.test", "b.test"):
        ran = results[name]
        assert "ok 100" in ran.out, ran.out
        assert "foreign 0" in ran.out
        assert len(ran.events) == 100
        assert {e.host for e in ran.events} == {name}
        assert {e.job_id for e in ran.events} == {f"load-{name[0]}"}


def test_every_event_names_its_job_and_run(executors: list[Executor], proxy: EgressThread,
                                          upstream: Upstream) -> None:
    ran = run(executors[0], proxy, upstream, """
        curl -s --max-time 5 -o /dev/null "http://allowed.test:$HTTP_PORT/" || true
        curl -s --max-time 5 -o /dev/null "http://denied.test:$HTTP_PORT/" || true
        """, allow=[f"allowed.test:{upstream.http_port}"], job_id="named-job")
    assert len(ran.events) == 2
    for event in ran.events:
        assert event.job_id == "named-job" and event.run_id == "run-1"
        assert event.duration_s >= 0 and event.started_at > 0
    payload = [json.loads(p.model_dump_json()) for p in _payloads(ran.events)]
    assert [p["decision"] for p in payload] == ["allow", "deny"]


def _payloads(events: list[EgressEvent]) -> list[Any]:
    from stockade.agent.network import event_payload

    return [event_payload(e) for e in events]
