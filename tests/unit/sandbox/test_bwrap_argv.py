"""The bwrap command line is a pure function of the spec and carries every guarantee."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stockade.sandbox.bwrap import _limit_files, bwrap_argv
from stockade.sandbox.cgroups import CgroupMode
from stockade.sandbox.spec import SandboxSpec

Spec = Callable[..., SandboxSpec]
TMP = Path("/var/lib/stockade/work/job-1-abcd/tmp")


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_all_namespaces_unshared_and_job_is_unprivileged(make_spec: Spec) -> None:
    argv = bwrap_argv(make_spec(), TMP, 9, ["/bin/true"])
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                 "--unshare-uts", "--unshare-cgroup", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--uid") + 1] == "1000" and argv[argv.index("--gid") + 1] == "1000"
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--seccomp") + 1] == "9"
    assert "--unshare-all" not in argv and "--share-net" not in argv


def test_root_read_only_and_only_workspace_and_tmp_are_host_binds(make_spec: Spec) -> None:
    spec = make_spec()
    argv = bwrap_argv(spec, TMP, 9, ["/bin/true"], masked=("/proc/keys",))
    assert _pairs(argv, "--ro-bind") == [(str(spec.rootfs), "/"), ("/dev/null", "/proc/keys")]
    assert _pairs(argv, "--bind") == [(str(spec.workspace), "/workspace"), (str(TMP), "/tmp")]
    assert "--dev-bind" not in argv


def test_command_comes_last_after_a_separator(make_spec: Spec) -> None:
    argv = bwrap_argv(make_spec(), TMP, 9, ["/bin/bash", "-c", "--uid 0"])
    assert argv[-4:] == ["--", "/bin/bash", "-c", "--uid 0"]
    assert bwrap_argv(make_spec(), TMP, 9, ["x"]) == bwrap_argv(make_spec(), TMP, 9, ["x"])


def test_cgroup_limits_for_v1_and_v2(make_spec: Spec) -> None:
    spec = make_spec()
    v2 = {name: value for _, name, value in _limit_files(CgroupMode.V2, spec)}
    assert v2 == {"memory.max": str(spec.limits.memory_bytes), "memory.swap.max": "0",
                  "pids.max": "256", "cpu.max": "150000 100000"}
    v1 = {(c, name): value for c, name, value in _limit_files(CgroupMode.V1, spec)}
    assert v1[("memory", "memory.memsw.limit_in_bytes")] == str(spec.limits.memory_bytes)
    assert v1[("pids", "pids.max")] == "256" and v1[("cpu", "cpu.cfs_quota_us")] == "150000"


def test_a_joined_network_namespace_is_shared_not_unshared(make_spec: Spec) -> None:
    # The launcher enters the agent's namespace (loopback + proxy listener) before bwrap runs.
    argv = bwrap_argv(make_spec(netns_path="/proc/1/fd/7"), TMP, 9, ["/bin/true"])
    assert "--unshare-net" not in argv and "--share-net" not in argv
    assert "--unshare-user" in argv and "--unshare-pid" in argv
