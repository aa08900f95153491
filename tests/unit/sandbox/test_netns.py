"""The job's network namespace: loopback and one listener, and gone once closed (root)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from stockade.sandbox.netns import create_job_netns, listen_in, namespace_handles

pytestmark = pytest.mark.root


def _in_namespace(path: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={path}", "--", "bash", "-c", script],
                          capture_output=True, text=True, timeout=30, check=False)


def test_a_new_namespace_has_loopback_only_and_the_listener() -> None:
    netns = create_job_netns(port=3128)
    try:
        assert netns.inode != os.readlink("/proc/self/ns/net")
        done = threading.Event()

        def serve() -> None:
            netns.listener.setblocking(True)
            conn, _ = netns.listener.accept()
            conn.sendall(b"hello\n")
            conn.close()
            done.set()

        threading.Thread(target=serve, daemon=True).start()
        out = _in_namespace(netns.path, "exec 3<>/dev/tcp/127.0.0.1/3128; cat <&3; "
                                        "ls /sys/class/net; "
                                        "(exec 4<>/dev/tcp/1.1.1.1/80) 2>&1 || true")
        assert "hello" in out.stdout
        assert done.wait(5)
        assert "Network is unreachable" in out.stdout
        ifaces = subprocess.run(["nsenter", f"--net={netns.path}", "ip", "-o", "link"],
                                capture_output=True, text=True, check=True).stdout
        assert [line.split(":")[1].strip() for line in ifaces.splitlines()] == ["lo"]
        # This process itself stays in the host's namespace: only the helper thread moved.
        assert os.readlink("/proc/self/ns/net") != netns.inode
    finally:
        netns.close()
    assert namespace_handles(netns.inode) == []


def test_listen_in_enters_the_namespace_of_a_process() -> None:
    sleeper = subprocess.Popen(["unshare", "--net", "--", "sleep", "30"])
    try:
        for _ in range(200):
            inode = os.readlink(f"/proc/{sleeper.pid}/ns/net")
            if inode != os.readlink("/proc/self/ns/net"):
                break
            threading.Event().wait(0.01)
        netns = listen_in(sleeper.pid, port=3999)
        try:
            assert netns.inode == inode
            client = subprocess.Popen(
                ["nsenter", f"--net=/proc/{sleeper.pid}/ns/net", "--", "bash", "-c",
                 "exec 3<>/dev/tcp/127.0.0.1/3999; echo ping >&3"])
            netns.listener.setblocking(True)
            netns.listener.settimeout(10)
            conn, _ = netns.listener.accept()
            assert conn.recv(16) == b"ping\n"
            conn.close()
            client.wait(10)
            # Nothing listens on that port in the host's namespace.
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect(("127.0.0.1", 3999))
        finally:
            netns.close()
    finally:
        sleeper.kill()
        sleeper.wait()
