"""Egress proxy benchmark: tunnel throughput against a direct connection, and added latency.

(a) A 100 MB download over loopback through a CONNECT tunnel of ``stockade.egress`` (splice
mode, and the plain-copy fallback for comparison) against the same download direct; median
over BENCH_EGRESS_RUNS runs (default 7), and the ratio. Target: at least 70% of direct.
(b) Time to the first byte of a tiny request through the proxy (CONNECT, and absolute-URI
HTTP) against direct; median and p95 over at least 100 runs. Target: at most 2 ms added
(median). The source server runs in a child process and the proxy on its own thread, as in
the agent; the download client is a child process too (as a job is), so that this process's
CPU time during a download is the proxy's own, reported per 100 MB. The latency client runs
in this thread.
"""

from __future__ import annotations

import ipaddress
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from common import Sample, console, fmt, print_table

from stockade.egress import Allowlist, EgressThread, JobEgress, Limits

MB = 1_000_000
SIZE = 100 * MB
THROUGHPUT_RUNS = int(os.environ.get("BENCH_EGRESS_RUNS", "7"))
LATENCY_RUNS = max(int(os.environ.get("BENCH_RUNS", "30")), 100)
RATIO_TARGET = 0.70
ADDED_TARGET_MS = 2.0

# A loopback source: "SEND n\n" gets n bytes, a "GET" request a tiny HTTP answer, "PING\n" PONG.
SERVER = r"""
import socket, sys, threading
payload = memoryview(b"x" * (1 << 20))
def serve(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = b""
        while b"\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        if data.startswith(b"SEND "):
            left = int(data.split()[1])
            while left > 0:
                sent = conn.send(payload[: min(left, len(payload))])
                left -= sent
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
        elif data.startswith(b"GET "):
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        else:
            conn.sendall(b"PONG\n")
listener = socket.create_server(("127.0.0.1", 0), backlog=128)
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

# Downloads SIZE bytes from the source (through the proxy when given its port); prints its ms.
CLIENT = r"""
import socket, sys, time
source, proxy, size = (int(arg) for arg in sys.argv[1:4])
buffer = bytearray(1 << 20)
started = time.perf_counter()
sock = socket.create_connection(("127.0.0.1", proxy or source))
if proxy:
    sock.sendall(f"CONNECT bench.test:{source} HTTP/1.1\r\nHost: bench.test\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
sock.sendall(f"SEND {size}\n".encode())
got = 0
while got < size:
    count = sock.recv_into(buffer)
    if not count:
        sys.exit(f"closed after {got} bytes")
    got += count
print((time.perf_counter() - started) * 1000)
"""


async def _resolve(name: str, port: int) -> list[ipaddress.IPv4Address]:
    return [ipaddress.IPv4Address("127.0.0.1")]  # no DNS in the figures: a fixed answer


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data!r}")
        data += chunk
    return data


def _tunnel(proxy_port: int, source_port: int) -> socket.socket:
    sock = _connect(proxy_port)
    sock.sendall(f"CONNECT bench.test:{source_port} HTTP/1.1\r\nHost: bench.test\r\n\r\n".encode())
    _read_until(sock, b"\r\n\r\n")
    return sock


def _cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _download(source: int, proxy: int) -> tuple[float, float]:
    """Milliseconds from connecting to the last of SIZE bytes, and this process's CPU ms."""
    before = _cpu_ms()
    done = subprocess.run([sys.executable, "-c", CLIENT, str(source), str(proxy), str(SIZE)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout), _cpu_ms() - before


def _first_byte(open_socket: Callable[[], socket.socket], request: bytes) -> float:
    """Milliseconds from connecting to the first byte of the answer to a tiny request."""
    started = time.perf_counter()
    with open_socket() as sock:
        sock.sendall(request)
        if not sock.recv(1):
            raise ConnectionError("closed without answering")
    return (time.perf_counter() - started) * 1000


def _register(egress: EgressThread, job_id: str, source_port: int) -> int:
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    config = JobEgress(
        job_id=job_id, run_id="bench", allowlist=Allowlist.parse([f"bench.test:{source_port}"]),
        tier="bench", limits=Limits(max_connections=1_000_000, max_bytes=1 << 50),
        allow_cidrs=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    egress.register(listener, config, lambda event: None)
    port: int = listener.getsockname()[1]
    return port


def main() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        source = int(server.stdout.readline())
        _measure(source)
    finally:
        server.kill()
        server.wait()


def _measure(source: int) -> None:
    splice = EgressThread(resolver=_resolve, splice=True).start()
    copy = EgressThread(resolver=_resolve, splice=False).start()
    try:
        via_splice = _register(splice, "bench-splice", source)
        via_copy = _register(copy, "bench-copy", source)
        subjects = {"direct": 0, "proxy, splice": via_splice, "proxy, copy": via_copy}
        downloads: dict[str, list[float]] = {label: [] for label in subjects}
        cpu: dict[str, list[float]] = {label: [] for label in subjects}
        for proxy in subjects.values():
            _download(source, proxy)  # warm-up
        for _ in range(THROUGHPUT_RUNS):  # interleaved, so that load weighs on all alike
            for label, proxy in subjects.items():
                elapsed, used = _download(source, proxy)
                downloads[label].append(elapsed)
                cpu[label].append(used)
        _print_throughput({label: Sample(label, tuple(v)) for label, v in downloads.items()},
                          {label: Sample(label, tuple(v)) for label, v in cpu.items()})

        ping = b"PING\n"
        get = f"GET http://bench.test:{source}/ HTTP/1.1\r\nHost: bench.test:{source}\r\n\r\n"
        probes: dict[str, Callable[[], float]] = {
            "direct": lambda: _first_byte(lambda: _connect(source), ping),
            "CONNECT tunnel": lambda: _first_byte(lambda: _tunnel(via_splice, source), ping),
            "absolute-URI HTTP": lambda: _first_byte(lambda: _connect(via_splice), get.encode()),
        }
        latencies: dict[str, list[float]] = {label: [] for label in probes}
        for probe in probes.values():
            probe()
            probe()
        for _ in range(LATENCY_RUNS):
            for label, probe in probes.items():
                latencies[label].append(probe())
        _print_latency({label: Sample(label, tuple(v)) for label, v in latencies.items()})
    finally:
        splice.close()
        copy.close()
    console.print(f"[dim]load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs at the "
                  "end (other work on the host slows every figure)[/]")


def _print_throughput(samples: dict[str, Sample], cpu: dict[str, Sample]) -> None:
    direct = samples["direct"]
    rows = []
    for label, sample in samples.items():
        rate = SIZE / MB / (sample.median / 1000)
        ratio = direct.median / sample.median
        target = "" if label == "direct" else f"≥ {RATIO_TARGET:.0%} of direct"
        proxy_cpu = "-" if label == "direct" else fmt(cpu[label].median)
        rows.append([label, fmt(sample.median), fmt(sample.p95), f"{rate:.0f}",
                     f"{ratio:.0%}", proxy_cpu, target])
    print_table(f"Egress: {SIZE // MB} MB over loopback, {THROUGHPUT_RUNS} runs (ms)",
                ["path", "median", "p95", "MB/s", "of direct", "proxy CPU", "target"], rows)


def _print_latency(samples: dict[str, Sample]) -> None:
    direct = samples["direct"]
    rows = []
    for label, sample in samples.items():
        added = sample.median - direct.median
        target = "" if label == "direct" else f"≤ {ADDED_TARGET_MS:.0f} added (median)"
        rows.append([label, fmt(sample.median), fmt(sample.p95),
                     "-" if label == "direct" else fmt(added), target])
    print_table(f"Egress: connect to first byte of a tiny request, {LATENCY_RUNS} runs (ms)",
                ["path", "median", "p95", "added (median)", "target"], rows)


if __name__ == "__main__":
    main()
