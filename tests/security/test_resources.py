"""Resource abuse is contained by the limits and reported as what it is."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from stockade.sandbox.interface import Outcome
from tests.security.conftest import Sandbox

pytestmark = pytest.mark.root
MiB = 1024**2


@pytest.mark.parametrize("backend", ["crun", "bwrap"])
def test_fork_bomb_is_contained_by_pids_and_reported(sandbox: Sandbox, backend: str) -> None:
    host_ok: list[bool] = []
    done = threading.Event()

    def probe() -> None:
        # The host must keep running processes while the bomb goes off.
        while not done.is_set():
            host_ok.append(subprocess.run(["true"], check=False, timeout=10).returncode == 0)
            time.sleep(0.2)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        ran = sandbox("bomb() { bomb | bomb & }; bomb; sleep 30", backend=backend,
                      pids=64, timeout_s=4.0)
    finally:
        done.set()
        thread.join()
    assert ran.result.outcome is Outcome.LIMIT, ran.result
    assert "pids" in ran.result.detail
    assert host_ok and all(host_ok)


@pytest.mark.parametrize("backend", ["crun", "bwrap"])
def test_memory_bomb_is_reported_as_out_of_memory(sandbox: Sandbox, backend: str) -> None:
    ran = sandbox("python3 -c 'x = []\nwhile True: x.append(bytearray(8 << 20))'",
                  backend=backend, memory_bytes=64 * MiB)
    assert ran.result.outcome is Outcome.OOM, ran.result
    assert ran.result.steps[0].exit_code != 0


@pytest.mark.parametrize("where", ["/workspace", "/tmp"])
def test_filling_the_workspace_or_tmp_is_bounded(sandbox: Sandbox, where: str) -> None:
    ran = sandbox(f"dd if=/dev/zero of={where}/fill bs=1M count=200 2>&1; "
                  f"df -k {where} | tail -1", memory_bytes=512 * MiB, disk_bytes=32 * MiB)
    assert ran.result.outcome is Outcome.LIMIT, ran.output
    assert "No space left on device" in ran.output
    assert "full" in ran.result.detail


def test_limits_apply_inside_the_sandbox(sandbox: Sandbox) -> None:
    ran = sandbox("df -k /workspace /tmp | tail -2 | awk '{print $2}'; nproc; ulimit -c",
                  disk_bytes=48 * MiB, cpus=1.0)
    sizes = ran.stdout.splitlines()
    assert sizes[:2] == [str(48 * 1024), str(48 * 1024)]
    assert sizes[-1] == "0"  # no core dumps
