"""Loopback fixtures for the egress proxy: an HTTP server, a TLS server, a proxy, job factories.

Nothing here reaches beyond 127.0.0.0/8: names resolve through a fake resolver to 127.0.0.1,
and every forbidden address a test names is refused before any connection is attempted.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stockade.egress import Allowlist, EgressEvent, EgressThread, JobEgress, Limits

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
TIMEOUT = 10.0  # every client socket; tests end long before unless something is broken


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /bytes/N sends N bytes; anything else echoes the path and Host header."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host"), self.client_address))  # type: ignore[attr-defined]
        if self.path.startswith("/bytes/"):
            count = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(count))
            self.end_headers()
            chunk = b"x" * 65536
            while count > 0:
                self.wfile.write(chunk[: min(count, len(chunk))])
                count -= len(chunk)
            return
        body = f"path={self.path} host={self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive, X-Secret-Hop")
        self.send_header("X-Secret-Hop", "must not reach the client")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str | None, tuple[str, int]]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the proxy cutting a connection (byte limit, job end) is what some tests want


@pytest.fixture(scope="session")
def web() -> Iterator[_Server]:
    server = _Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """A TLS server for tls.test (and 127.0.0.1) with a certificate made for this session."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("tls.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    root = tmp_path_factory.mktemp("tls")
    cert_file, key_file = root / "cert.pem", root / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello over tls\n")
                    while tls.recv(65536):
                        pass
            except (OSError, ssl.SSLError):
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield TlsServer(listener.getsockname()[1], cert_file)
    listener.close()


NAMES = {
    "web.test": ["127.0.0.1"], "web2.test": ["127.0.0.1"], "tls.test": ["127.0.0.1"],
    "other.test": ["127.0.0.1"], "a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"],
    "rebind.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"],
    "mixed.test": ["127.0.0.1", "10.0.0.1"], "v6.test": ["::1"],
}


class FakeResolver:
    """Names from NAMES; records every query (to show what was never resolved)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def __call__(self, name: str, port: int) -> Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.queries.append(name)
        if name not in NAMES:
            raise OSError(f"{name}: name not known")
        return [ipaddress.ip_address(a) for a in NAMES[name]]


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def proxy(resolver: FakeResolver) -> Iterator[EgressThread]:
    with EgressThread(resolver=resolver) as egress:
        yield egress


@dataclass
class Job:
    """A registered job: its proxy port and the events it received."""

    egress: EgressThread
    job_id: str
    port: int
    events: list[EgressEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: EgressEvent) -> None:
        with self.lock:
            self.events.append(event)

    def wait_events(self, count: int, timeout: float = 5.0) -> list[EgressEvent]:
        """The job's events once there are at least ``count`` (fails the test otherwise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.01)
        with self.lock:
            raise AssertionError(f"expected {count} events, got {self.events}")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)

    def unregister(self):  # type: ignore[no-untyped-def]
        return self.egress.unregister(self.job_id)


MakeJob = Callable[..., Job]


@pytest.fixture
def make_job(proxy: EgressThread) -> MakeJob:
    counter = iter(range(1, 10_000))

    def make(allow: Sequence[str] = (), *, audit: bool = False, limits: Limits | None = None,
             allow_cidrs: tuple = LOOPBACK, tier: str = "untrusted", **extra: object) -> Job:
        job_id = f"job-{next(counter)}"
        listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        job = Job(proxy, job_id, listener.getsockname()[1])
        config = JobEgress(job_id=job_id, run_id="run-1", allowlist=Allowlist.parse(allow),
                           tier=tier, audit=audit, limits=limits or Limits(),
                           allow_cidrs=allow_cidrs, **extra)  # type: ignore[arg-type]
        proxy.register(listener, config, job.record)
        return job

    return make


# Bytes read past one response (pipelined responses can arrive in one recv), per socket.
_LEFTOVER: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (Content-Length framed, or until close) from ``sock``."""
    data = _LEFTOVER.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        if rest[length:]:
            _LEFTOVER[sock] = rest[length:]
        return status, headers, rest[:length]
    while chunk := sock.recv(65536):
        rest += chunk
    return status, headers, rest


def request(job: Job, raw: str) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection to the job's proxy; its first response."""
    with job.connect() as sock:
        sock.sendall(raw.encode())
        return read_response(sock)


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the peer closed ``sock`` (EOF or reset), reading and discarding whatever came."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True
