"""A job's network namespace: loopback only, with one listener the host side serves.

The agent (root) creates the namespace itself, before the sandbox exists, in a short-lived
thread: ``unshare(CLONE_NEWNET)`` moves only that thread, which brings ``lo`` up, opens a TCP
listener on ``127.0.0.1:PORT`` and a handle on the namespace, and then ends. The sandbox joins
the namespace by path (``/proc/<agent>/fd/<handle>``); the listener stays in the agent, which
serves it (the egress proxy). So:

- the namespace is owned by the host's user namespace: nothing in the job, even root in its own
  user namespace, holds ``CAP_NET_ADMIN`` over it, so no route, address or interface can be
  added from inside;
- it has no interface but ``lo`` and no route out: the listener is the only way out, and DNS,
  UDP and raw TCP to anything else fail (``Network is unreachable``);
- it lives exactly as long as the handle, the listener and their connections: closing them
  (:meth:`JobNetns.close`) destroys it, which teardown then checks.

Cost: a thread, one ``unshare`` and a socket, well under a millisecond (a veth pair with nftables
costs tens of milliseconds here).

OCI runtimes cannot mount ``/sys`` in a network namespace their user namespace does not own (runc
fails; crun bind-mounts the host's ``/sys`` instead, showing the host's interfaces), so for them
the runtime creates the namespace (loopback up, nothing else) and :func:`listen_in` enters it
from a thread once the sandbox's pid 1 exists, before the first step, to open the listener there.
That namespace is owned by the job's user namespace, where the job holds no capability (uid
1000, every capability dropped, ``no_new_privs``, seccomp), so it cannot reconfigure it either.
The bubblewrap backend joins a namespace made by :func:`create_job_netns`.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

from stockade.errors import InfrastructureError

#: Port of the job's proxy listener on the sandbox's loopback (squid's customary port).
PROXY_PORT = 3128
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_CLONE_NEWNET = 0x40000000  # os.CLONE_NEWNET from Python 3.12 on
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@dataclass
class JobNetns:
    """A created namespace: its handle (``fd``), the path a runtime joins, and the listener."""

    fd: int
    listener: socket.socket
    port: int
    inode: str  # e.g. "net:[4026532301]", as /proc/PID/ns/net reads
    _closed: bool = field(default=False, repr=False)

    @property
    def path(self) -> str:
        """A path that opens the namespace, for an OCI ``linux.namespaces[].path``."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    def close(self) -> None:
        """Close the listener and the handle; the namespace dies with the last reference."""
        if self._closed:
            return
        self._closed = True
        try:
            self.listener.close()
        finally:
            os.close(self.fd)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(512)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def _open_here(pid: int | None, port: int) -> JobNetns:
    """In the calling (short-lived) thread: move into the namespace of ``pid``, or a new one
    for None, bring ``lo`` up and open the listener there."""
    if pid is None:
        _check(_libc.unshare(_CLONE_NEWNET))  # this thread only; it ends right after
        path = "/proc/thread-self/ns/net"
    else:
        path = f"/proc/{pid}/ns/net"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        inode = os.readlink(path)
        if pid is not None:
            _check(_libc.setns(fd, _CLONE_NEWNET))  # this thread only; it ends right after
        _loopback_up()
        listener = _listen(port)
    except BaseException:
        os.close(fd)
        raise
    return JobNetns(fd=fd, listener=listener, port=port, inode=inode)


def create_job_netns(port: int = PROXY_PORT) -> JobNetns:
    """A fresh loopback-only network namespace with a listener on ``127.0.0.1:port`` (root)."""
    return _in_thread(None, port)


def listen_in(pid: int, port: int = PROXY_PORT) -> JobNetns:
    """A listener on ``127.0.0.1:port`` in the network namespace of host process ``pid``."""
    return _in_thread(pid, port)


def _in_thread(pid: int | None, port: int) -> JobNetns:
    out: list[JobNetns | BaseException] = []

    def work() -> None:
        try:
            out.append(_open_here(pid, port))
        except BaseException as exc:
            out.append(exc)

    worker = threading.Thread(target=work, name="stockade-netns")
    worker.start()
    worker.join()
    result = out[0] if out else InfrastructureError("network namespace helper vanished")
    if isinstance(result, BaseException):
        raise InfrastructureError(
            f"cannot create the job's network namespace: {result}",
            hint="the agent needs root (CAP_SYS_ADMIN) to create network namespaces",
        ) from result
    return result


def namespace_handles(inode: str) -> list[str]:
    """This process's descriptors that still refer to the namespace ``inode`` (teardown)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == inode:
                found.append(name)
        except OSError:
            continue
    return found
