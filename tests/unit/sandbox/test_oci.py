"""The OCI config builder: schema-valid, and every guarantee of the sandbox is in it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from stockade.errors import InvalidInput
from stockade.sandbox.oci import MASKED_PATHS, READONLY_PATHS, oci_config, process_config
from stockade.sandbox.spec import Limits, SandboxSpec

# The OCI runtime-spec JSON schema as Debian ships it (golang-github-opencontainers-specs-dev,
# runtime-spec 1.0.2+; listed in the Makefile's APT_PACKAGES), not a copy of our own.
SCHEMA_DIR = Path("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema")
MiB = 1024**2

Spec = Callable[..., SandboxSpec]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    if not (SCHEMA_DIR / "config-schema.json").exists():
        pytest.fail(f"OCI runtime-spec schema missing at {SCHEMA_DIR}: run `make deps`")
    resources = [(p.name, Resource(json.loads(p.read_text()), DRAFT4))
                 for p in SCHEMA_DIR.glob("*.json")]
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMA_DIR / "config-schema.json").read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)


def test_config_is_valid_against_the_runtime_spec_schema(make_spec: Spec,
                                                         validator: jsonschema.Draft4Validator) -> None:
    errors = sorted(validator.iter_errors(oci_config(make_spec())), key=str)
    assert errors == []


def test_schema_validation_catches_a_broken_config(make_spec: Spec,
                                                   validator: jsonschema.Draft4Validator) -> None:
    config = oci_config(make_spec())
    config["linux"]["namespaces"].append({"type": "not-a-namespace"})
    assert list(validator.iter_errors(config))


def test_builder_is_pure_and_serialisable(make_spec: Spec) -> None:
    spec = make_spec()
    assert oci_config(spec) == oci_config(spec)
    assert json.loads(json.dumps(oci_config(spec))) == oci_config(spec)


def test_all_seven_namespaces(make_spec: Spec) -> None:
    kinds = [n["type"] for n in oci_config(make_spec())["linux"]["namespaces"]]
    assert sorted(kinds) == sorted(["pid", "network", "ipc", "uts", "mount", "user", "cgroup"])
    assert all("path" not in n for n in oci_config(make_spec())["linux"]["namespaces"])


def test_job_runs_unprivileged_and_mapped_onto_an_unowned_host_range(make_spec: Spec) -> None:
    config = oci_config(make_spec())
    assert config["process"]["user"]["uid"] == 1000
    assert config["process"]["user"]["gid"] == 1000
    (uid_map,) = config["linux"]["uidMappings"]
    assert uid_map["containerID"] == 0 and uid_map["hostID"] >= 100_000
    assert config["linux"]["gidMappings"] == config["linux"]["uidMappings"]


def test_no_capabilities_and_no_new_privileges(make_spec: Spec) -> None:
    process = oci_config(make_spec())["process"]
    assert process["noNewPrivileges"] is True
    assert set(process["capabilities"]) == {"bounding", "effective", "inheritable",
                                            "permitted", "ambient"}
    assert all(v == [] for v in process["capabilities"].values())


def test_root_is_read_only_and_only_workspace_is_a_host_path(make_spec: Spec) -> None:
    spec = make_spec()
    config = oci_config(spec)
    assert config["root"] == {"path": str(spec.rootfs), "readonly": True}
    binds = [m for m in config["mounts"] if m["type"] == "bind" or "bind" in m["options"]
             or "rbind" in m["options"]]
    assert [(m["source"], m["destination"]) for m in binds] == [(str(spec.workspace), "/workspace")]
    assert "nosuid" in binds[0]["options"] and "nodev" in binds[0]["options"]
    text = json.dumps(config)
    for socket in ("docker.sock", "containerd.sock", "podman.sock", "/run", "/var/run"):
        assert socket not in text


def test_tmp_is_a_bounded_tmpfs(make_spec: Spec) -> None:
    spec = make_spec()
    (tmp,) = [m for m in oci_config(spec)["mounts"] if m["destination"] == "/tmp"]
    assert tmp["type"] == "tmpfs"
    assert f"size={spec.limits.tmp_bytes}" in tmp["options"]
    assert {"nosuid", "nodev"} <= set(tmp["options"])


def test_every_writable_mount_is_size_bounded(make_spec: Spec) -> None:
    for mount in oci_config(make_spec())["mounts"]:
        if mount["type"] == "tmpfs":
            assert any(o.startswith("size=") for o in mount["options"]), mount


def test_proc_and_sys_paths_are_masked_like_runc(make_spec: Spec) -> None:
    linux = oci_config(make_spec())["linux"]
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/timer_list"} <= set(linux["maskedPaths"])
    assert {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"} <= set(linux["readonlyPaths"])
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    (sysfs,) = [m for m in oci_config(make_spec())["mounts"] if m["destination"] == "/sys"]
    assert "ro" in sysfs["options"]


def test_cgroup_limits_follow_the_spec(make_spec: Spec) -> None:
    spec = make_spec(limits=Limits(memory_bytes=300 * MiB, pids=99, cpus=0.5,
                                   tmp_bytes=8 * MiB, disk_bytes=9 * MiB))
    res = oci_config(spec)["linux"]["resources"]
    assert res["memory"] == {"limit": 300 * MiB, "swap": 300 * MiB}
    assert res["pids"] == {"limit": 99}
    assert res["cpu"] == {"quota": 50_000, "period": 100_000}
    assert res["devices"] == [{"allow": False, "access": "rwm"}]


def test_cgroup_path_is_unique_per_sandbox(make_spec: Spec) -> None:
    a = oci_config(make_spec(sandbox_id="a-1"))["linux"]["cgroupsPath"]
    b = oci_config(make_spec(sandbox_id="b-2"))["linux"]["cgroupsPath"]
    assert a != b and a.endswith("/a-1")


def test_rlimits_forbid_core_dumps(make_spec: Spec) -> None:
    limits = {r["type"]: r for r in oci_config(make_spec())["process"]["rlimits"]}
    assert limits["RLIMIT_CORE"]["hard"] == 0
    assert limits["RLIMIT_NOFILE"]["soft"] == limits["RLIMIT_NOFILE"]["hard"]


def test_seccomp_is_the_shipped_profile(make_spec: Spec) -> None:
    spec = make_spec()
    assert oci_config(spec)["linux"]["seccomp"] == json.loads(spec.seccomp.text)


def test_process_config_carries_exactly_the_step_environment(make_spec: Spec) -> None:
    proc = process_config(make_spec(), ["/bin/true"], {"A": "1", "SECRET": "x"})
    env = dict(e.split("=", 1) for e in proc["env"])
    assert env["A"] == "1" and env["SECRET"] == "x" and env["PATH"].startswith("/usr/local")
    assert proc["noNewPrivileges"] is True and proc["user"]["uid"] == 1000
    assert all(v == [] for v in proc["capabilities"].values())


def test_process_env_can_override_path_but_not_smuggle_names(make_spec: Spec) -> None:
    env = dict(e.split("=", 1) for e in process_config(make_spec(), ["x"], {"PATH": "/bin"})["env"])
    assert env["PATH"] == "/bin"
    with pytest.raises(ValueError):
        process_config(make_spec(), ["x"], {"A=B": "1"})
    with pytest.raises(ValueError):
        process_config(make_spec(), [], {})


@pytest.mark.parametrize("overrides", [
    {"sandbox_id": "../escape"}, {"sandbox_id": ""}, {"argv": ()},
    {"rootfs": Path("relative")}, {"uid": 0}, {"gid": 0}, {"uid": 70000}, {"host_id_base": 0},
])
def test_spec_refuses_unsafe_values(make_spec: Spec, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        make_spec(**overrides)


@pytest.mark.parametrize("limits", [
    {"memory_bytes": 1 * MiB}, {"pids": 1}, {"cpus": 0.0}, {"tmp_bytes": 10}, {"disk_bytes": 0},
])
def test_limits_refuse_nonsense(limits: dict[str, Any]) -> None:
    base: dict[str, Any] = {"memory_bytes": 64 * MiB, "pids": 64, "cpus": 1.0,
                            "tmp_bytes": 8 * MiB, "disk_bytes": 8 * MiB}
    with pytest.raises(InvalidInput):
        Limits(**{**base, **limits})


def test_a_joined_network_namespace_is_named_by_path(make_spec: Spec) -> None:
    spaces = oci_config(make_spec(netns_path="/proc/42/fd/9"))["linux"]["namespaces"]
    assert {"type": "network", "path": "/proc/42/fd/9"} in spaces
    assert all("path" not in n for n in spaces if n["type"] != "network")
