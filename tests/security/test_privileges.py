"""Kernel and privileges: no capability, no new privileges, and the dangerous calls fail."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from stockade.sandbox.interface import Outcome
from tests.security.conftest import ALL_BACKENDS, Sandbox

pytestmark = pytest.mark.root

# add_key / keyctl / ptrace syscall numbers for the native architecture
_NR = {"x86_64": {"add_key": 248, "keyctl": 250, "request_key": 249},
       "aarch64": {"add_key": 217, "keyctl": 219, "request_key": 218}}[platform.machine()]


def _py(code: str) -> str:
    """A bash line that runs python3 code (single-quoted: keep code free of single quotes)."""
    return f"python3 -c '{code}'"


@ALL_BACKENDS
def test_no_capabilities_no_new_privs_and_seccomp(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "
                  "/proc/self/status; id -u", backend=backend)
    status = dict(line.split(":\t") for line in ran.stdout.splitlines()[:-1])
    assert status == {"CapInh": "0000000000000000", "CapPrm": "0000000000000000",
                      "CapEff": "0000000000000000", "CapBnd": "0000000000000000",
                      "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}
    assert ran.stdout.splitlines()[-1] == "1000"


@ALL_BACKENDS
def test_mounting_anything_fails(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("""
        mount -t tmpfs none /tmp 2>&1 && echo MOUNTED || echo refused
        python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
print("MOUNTED" if rc == 0 else "refused", os.strerror(ctypes.get_errno()))
rc = libc.mount(b"proc", b"/tmp", b"proc", 0, None)
print("MOUNTED" if rc == 0 else "refused")
'
    """, backend=backend)
    assert "MOUNTED" not in ran.stdout
    assert ran.stdout.count("refused") == 3


@ALL_BACKENDS
def test_nested_user_namespaces_are_refused(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("""
        unshare -Ur id 2>&1 && echo NESTED || echo refused-unshare
        python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for flags in (0x10000000, 0x10000000 | 0x20000, 0x40000000):  # NEWUSER, +NEWNS, NEWNET
    if libc.unshare(flags) == 0:
        print("NESTED", flags)
    else:
        print("refused", ctypes.get_errno())
'
    """, backend=backend)
    assert "NESTED" not in ran.stdout
    assert ran.stdout.count("refused") == 4


@ALL_BACKENDS
def test_kernel_keyring_is_out_of_reach(sandbox: Sandbox, backend: str) -> None:
    code = (f"import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
            f"rc = libc.syscall({_NR['add_key']}, b\"user\", b\"stockade\", b\"secret\", 6, -3); "
            f"print(\"ADDED\" if rc >= 0 else \"refused\", os.strerror(ctypes.get_errno())); "
            f"rc = libc.syscall({_NR['keyctl']}, 0, -3, 0); "
            f"print(\"KEYCTL\" if rc >= 0 else \"refused\"); "
            f"rc = libc.syscall({_NR['request_key']}, b\"user\", b\"x\", None, 0); "
            f"print(\"REQUESTED\" if rc >= 0 else \"refused\")")
    ran = sandbox(_py(code), backend=backend)
    assert ran.stdout.count("refused") == 3, ran.output
    assert "Operation not permitted" in ran.stdout


def test_ptrace_of_a_process_outside_the_job_fails(sandbox: Sandbox) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        code = (f"import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
                f"[print(pid, \"TRACED\" if libc.ptrace(16, pid, 0, 0) == 0 else "
                f"\"refused\", os.strerror(ctypes.get_errno())) for pid in ({victim.pid}, 1)]")
        ran = sandbox(_py(code) + "; cat /proc/1/environ >/dev/null 2>&1 || echo no-environ")
        tracer = [line for line in Path(f"/proc/{victim.pid}/status").read_text().splitlines()
                  if line.startswith("TracerPid:")]
    finally:
        victim.kill()
        victim.wait()
    assert "TRACED" not in ran.stdout and ran.stdout.count("refused") == 2, ran.output
    assert tracer == ["TracerPid:\t0"]


@ALL_BACKENDS
def test_core_pattern_and_sysrq_cannot_be_written(sandbox: Sandbox, backend: str) -> None:
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    ran = sandbox("""
        (echo '|/workspace/evil' > /proc/sys/kernel/core_pattern) 2>/dev/null && echo WROTE || echo refused
        (echo h > /proc/sysrq-trigger) 2>/dev/null && echo WROTE || echo refused
        (echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo WROTE || echo refused
    """, backend=backend)
    assert "WROTE" not in ran.stdout and ran.stdout.count("refused") == 3
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


@ALL_BACKENDS
def test_cgroup_release_agent_is_unreachable(sandbox: Sandbox, backend: str) -> None:
    agents = sorted(Path("/sys/fs/cgroup").glob("*/release_agent"))
    before = {p: p.read_text() for p in agents}
    ran = sandbox("""
        for f in /sys/fs/cgroup/release_agent /sys/fs/cgroup/*/release_agent; do
          [ -e "$f" ] || continue
          (echo /workspace/evil > "$f") 2>/dev/null && echo "WROTE $f" || echo refused
        done
        mkdir -p /tmp/cg
        mount -t cgroup -o memory cgroup /tmp/cg 2>/dev/null && echo MOUNTED || echo refused-mount
        mount -t cgroup2 none /tmp/cg 2>/dev/null && echo MOUNTED || echo refused-mount
        (echo 1 > /sys/fs/cgroup/notify_on_release) 2>/dev/null && echo WROTE || echo refused
    """, backend=backend)
    assert "WROTE" not in ran.stdout and "MOUNTED" not in ran.stdout
    assert ran.stdout.count("refused-mount") == 2
    assert {p: p.read_text() for p in agents} == before


@ALL_BACKENDS
def test_block_devices_cannot_be_created(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("""
        mknod /tmp/sda b 8 0 2>/dev/null && echo MADE || echo refused
        python3 -c '
import os, stat
try:
    os.mknod("/workspace/disk", stat.S_IFBLK | 0o600, os.makedev(8, 0)); print("MADE")
except OSError as e:
    print("refused", e.errno)
'
        ls /dev | tr '\\n' ' '
    """, backend=backend)
    assert "MADE" not in ran.stdout and ran.stdout.count("refused") == 2
    assert "sda" not in ran.stdout and "vda" not in ran.stdout


def test_setuid_root_binary_in_the_workspace_does_not_escalate(sandbox: Sandbox,
                                                              tmp_path: Path) -> None:
    src = tmp_path / "repo"
    src.mkdir()
    for name in ("id", "cat"):
        target = src / f"suid-{name}"
        shutil.copy2(f"/usr/bin/{name}", target)
        os.chown(target, 0, 0)
        target.chmod(0o4755 | stat.S_ISGID)
    assert (src / "suid-id").stat().st_mode & stat.S_ISUID
    ran = sandbox("./suid-id -u; ./suid-id -g; ./suid-cat /etc/shadow 2>/dev/null || echo no-shadow; "
                  "stat -c '%a %u' suid-id", source=src)
    assert ran.result.outcome is Outcome.SUCCESS, ran.output
    euid, egid, shadow, mode = ran.stdout.splitlines()
    assert (euid, egid, shadow) == ("1000", "1000", "no-shadow")
    assert not int(mode.split()[0], 8) & 0o6000 or mode.split()[1] == "1000"


@ALL_BACKENDS
def test_tiocsti_input_injection_fails(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("""python3 -c '
import ctypes, fcntl, os, termios
master, slave = os.openpty()
for fd in (slave, master):
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x"); print("INJECTED")
    except OSError as e:
        print("refused", e.errno)
'""", backend=backend)
    assert "INJECTED" not in ran.stdout and ran.stdout.count("refused") == 2, ran.output


@ALL_BACKENDS
def test_seccomp_denies_calls_an_unprivileged_user_could_otherwise_make(sandbox: Sandbox,
                                                                       backend: str) -> None:
    # io_uring_setup and perf_event_open work for ordinary users on many kernels; the profile
    # denies them (EPERM). clone3 answers ENOSYS so libc falls back to clone, which it checks.
    nr = {"x86_64": (425, 298, 435), "aarch64": (425, 241, 435)}[platform.machine()]
    code = ("import ctypes, errno; libc = ctypes.CDLL(None, use_errno=True); "
            "p = ctypes.create_string_buffer(512); "
            f"calls = [({nr[0]}, 8, p), ({nr[1]}, p, 0, -1, -1, 0), ({nr[2]}, p, 88)]; "
            "out = [(libc.syscall(*c), errno.errorcode[ctypes.get_errno()]) for c in calls]; "
            "print(out)")
    ran = sandbox(_py(code) + "; (sleep 0 &) && echo forked", backend=backend)
    assert ran.stdout.splitlines() == [
        "[(-1, 'EPERM'), (-1, 'EPERM'), (-1, 'ENOSYS')]", "forked"], ran.output
