"""Host and filesystem: nothing of the host is readable, visible or writable from a job."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from pathlib import Path

import pytest

from stockade.sandbox.interface import Outcome
from tests.security.conftest import ALL_BACKENDS, Sandbox

pytestmark = pytest.mark.root


@ALL_BACKENDS
def test_host_files_cannot_be_read(sandbox: Sandbox, backend: str, tmp_path: Path) -> None:
    secret = secrets.token_hex(16)
    marker = Path("/tmp") / f"stockade-marker-{secret[:8]}"
    marker.write_text(secret)
    marker.chmod(0o644)  # readable by anyone on the host: only isolation can hide it
    try:
        ran = sandbox(f"""
            cat {marker} 2>&1 || echo no-marker
            cat /etc/shadow 2>&1 || echo no-shadow
            grep -rs {secret} /tmp /workspace /root /etc /run /var 2>/dev/null || echo not-found
        """, backend=backend)
    finally:
        marker.unlink()
    assert secret not in ran.output
    assert "no-marker" in ran.stdout and "no-shadow" in ran.stdout and "not-found" in ran.stdout
    host_root_hash = Path("/etc/shadow").read_text().splitlines()[0].split(":")[1]
    if len(host_root_hash) > 2:
        assert host_root_hash not in ran.output


@ALL_BACKENDS
def test_only_the_jobs_own_processes_are_visible(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("""
        for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done
        echo count=$(ls -d /proc/[0-9]* | wc -l)
    """, backend=backend)
    assert ran.result.outcome is Outcome.SUCCESS, ran.output
    count = int(ran.stdout.rsplit("count=", 1)[1])
    assert count <= 8, ran.stdout  # init, the step's shell and its helpers, nothing else
    for host_thing in ("pytest", "process_api", "sshd", "systemd", str(os.getpid())):
        assert host_thing not in ran.stdout.split("count=")[0]


@ALL_BACKENDS
def test_root_usr_and_etc_are_read_only(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("""
        for d in / /usr /etc /usr/bin /var; do
          (echo x > $d/stockade-owned) 2>/dev/null && echo "WROTE $d" || echo "refused $d"
        done
        mkdir /etc/x 2>/dev/null && echo WROTE-mkdir || echo refused-mkdir
    """, backend=backend)
    assert "WROTE" not in ran.stdout
    assert ran.stdout.count("refused") == 6


@ALL_BACKENDS
def test_host_loopback_server_is_unreachable(sandbox: Sandbox, backend: str) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        ran = sandbox(f"""
            python3 -c '
import socket
for host in ("127.0.0.1", "10.0.2.2", "172.17.0.1"):
    try:
        socket.create_connection((host, {port}), timeout=2); print("CONNECTED", host)
    except OSError as e:
        print("refused", host, e.errno)
'
            curl -s --max-time 3 http://127.0.0.1:{port}/ && echo CURL-OK || echo curl-failed
            cat /sys/class/net/*/operstate 2>/dev/null; ls /sys/class/net 2>/dev/null
        """, backend=backend)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert "CONNECTED" not in ran.stdout and "CURL-OK" not in ran.stdout
    assert accepted == []


def test_no_container_runtime_socket_is_reachable(sandbox: Sandbox, tmp_path: Path) -> None:
    # A runtime socket on the host (as docker would have one) must not be visible inside.
    sock_path = Path("/run") / f"stockade-sec-{secrets.token_hex(4)}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    try:
        ran = sandbox("""
            for s in /run/docker.sock /var/run/docker.sock /run/containerd/containerd.sock \\
                     /run/podman/podman.sock /run/crun /run/runc; do
              [ -e $s ] && echo "FOUND $s"
            done
            find / -type s 2>/dev/null | grep -v '^/proc/' | sed 's/^/SOCKET /' || true
            echo done
        """)
    finally:
        listener.close()
        sock_path.unlink()
    assert ran.result.outcome is Outcome.SUCCESS, ran.output
    assert "FOUND" not in ran.stdout and "SOCKET" not in ran.stdout


def test_files_left_by_one_job_are_invisible_to_the_next(sandbox: Sandbox) -> None:
    token = secrets.token_hex(8)
    first = sandbox(f"echo {token} > /tmp/left; echo {token} > /workspace/left; "
                    f"echo {token} > /dev/shm/left; echo written")
    assert "written" in first.stdout
    second = sandbox(f"cat /tmp/left /workspace/left /dev/shm/left 2>/dev/null || true; "
                     f"grep -rs {token} /tmp /workspace /dev/shm || true; echo checked")
    assert token not in second.output and "checked" in second.stdout
