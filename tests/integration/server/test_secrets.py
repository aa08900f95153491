"""The secrets broker on a real server: admin API and CLI (values never read back), leases by
job token with grants by tier, ref and environment, audit, server-side masking, held logs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockade.api.agent import SECRETS_AUDIENCE
from stockade.store.broker import secret_audit
from stockade.store.database import Database
from stockade.store.holds import hold_events
from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo
from tests.integration.server.test_identity import (
    ENV_PIPELINE,
    PIPELINE,
    Factory,
    lease_job,
    start,
    submit,
    token,
)

DEPLOY = "deploy-key-0123456789-abcdef"
CI = "ci-token-9876543210-zyxwv"


def put(server: ServerHandle, name: str, value: str, cls: str) -> httpx.Response:
    with server.client() as api:
        return api.put(f"/secrets/{name}", json={"value": value, "class": cls})


def broker(server: ServerHandle, tok: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(server.url + "/api/v1/secrets" + path, json=body,
                      headers={"Authorization": f"Bearer {tok}"})


def audit(server: ServerHandle, job_id: str) -> list[dict[str, Any]]:
    db = Database(f"sqlite:///{server.home / 'stockade.db'}")
    try:
        return secret_audit(db, job_id)
    finally:
        db.dispose()


@pytest.fixture
def server(server_factory: Factory, tmp_path: Path) -> ServerHandle:
    handle = start(server_factory, tmp_path)
    assert put(handle, "DEPLOY_KEY", DEPLOY, "deploy").status_code == 200
    assert put(handle, "CI_TOKEN", CI, "ci").status_code == 200
    return handle


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    return make_repo(tmp_path / "repo", PIPELINE)


def test_admin_api_never_shows_values_and_stores_only_ciphertext(server: ServerHandle) -> None:
    with server.client() as api:
        listed = api.get("/secrets").json()["secrets"]
    assert [(s["name"], s["class"]) for s in listed] == [("CI_TOKEN", "ci"), ("DEPLOY_KEY", "deploy")]
    assert all(s["last_used_at"] is None and s["created_at"] <= s["updated_at"] for s in listed)
    assert DEPLOY not in str(listed)
    short = put(server, "SHORT", "abc", "ci")
    assert short.status_code == 400 and short.json()["code"] == "secret_too_short"
    assert put(server, "bad-name", DEPLOY, "ci").status_code == 400
    viewer = server.token("viewer")
    with server.client(viewer) as api:
        assert api.get("/secrets").status_code == 403
        assert api.put("/secrets/X_Y", json={"value": DEPLOY}).status_code == 403
    raw = b"".join(p.read_bytes() for p in server.home.glob("stockade.db*"))
    assert DEPLOY.encode() not in raw and CI.encode() not in raw
    master = server.home / "master.key"
    assert master.stat().st_mode & 0o777 == 0o600 and len(master.read_bytes()) == 32
    with server.client() as api:
        assert api.delete("/secrets/CI_TOKEN").status_code == 204
        assert api.delete("/secrets/CI_TOKEN").status_code == 404
        assert [s["name"] for s in api.get("/secrets").json()["secrets"]] == ["DEPLOY_KEY"]


def test_cli_reads_the_value_from_stdin_only(server: ServerHandle) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")},
           "STOCKADE_SERVER_URL": server.url, "STOCKADE_TOKEN": server.admin_token,
           "STOCKADE_HOME": str(server.home / "cli")}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stockade", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    done = cli("secret", "set", "PYPI_TOKEN", "--class", "ci", stdin="pypi-0123456789abcdef\n")
    assert done.returncode == 0, done.stderr
    short = cli("secret", "set", "TINY", stdin="short\n")
    assert short.returncode == 2 and "too short" in short.stderr
    assert cli("secret", "set", "EMPTY", stdin="\n").returncode == 2
    listed = cli("secret", "ls")
    assert "PYPI_TOKEN" in listed.stdout and "never" in listed.stdout
    assert "pypi-0123456789abcdef" not in listed.stdout
    assert cli("secret", "rm", "PYPI_TOKEN").returncode == 0
    assert "PYPI_TOKEN" not in cli("secret", "ls").stdout


def test_a_step_leases_what_it_declared_and_is_granted(
    server: ServerHandle, tmp_path: Path
) -> None:
    path, sha = make_repo(tmp_path / "envrepo", ENV_PIPELINE)
    submit(server, path, sha, ENV_PIPELINE)  # push to main, environment production
    agent = ProtocolAgent.register(server, "trusted")
    lease = lease_job(agent)
    tok = token(agent, lease["lease_id"], SECRETS_AUDIENCE)
    got = broker(server, tok, "/lease", {"step": 0, "names": ["DEPLOY_KEY", "CI_TOKEN", "MISSING_ONE"]})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["values"] == {"DEPLOY_KEY": DEPLOY, "CI_TOKEN": CI}
    assert body["refused"] == {"MISSING_ONE": "no such secret"}
    assert body["lease_id"].startswith("sls_") and body["expires_at"] > time.time()
    rows = audit(server, lease["job_id"])
    assert [(r["name"], r["class"], r["decision"]) for r in rows] == [
        ("DEPLOY_KEY", "deploy", "granted"), ("CI_TOKEN", "ci", "granted"),
        ("MISSING_ONE", None, "refused")]
    assert all(r["step"] == 0 and r["run_id"] == lease["run_id"] for r in rows)
    with server.client() as api:
        used = {s["name"]: s["last_used_at"] for s in api.get("/secrets").json()["secrets"]}
    assert used["DEPLOY_KEY"] and used["CI_TOKEN"]

    # a name the step did not declare, or a step that does not exist: refused as a whole
    undeclared = broker(server, tok, "/lease", {"step": 0, "names": ["DEPLOY_KEY", "OTHER"]})
    assert undeclared.status_code == 403 and "did not declare OTHER" in undeclared.json()["message"]
    assert broker(server, tok, "/lease", {"step": 5, "names": ["CI_TOKEN"]}).status_code == 403
    assert audit(server, lease["job_id"])[-1]["decision"] == "refused"

    # server-side masking: a value granted to the job never reaches the stored log
    agent.log(lease["lease_id"], f"oops {DEPLOY} leaked\n", f"ci={CI}\n").raise_for_status()
    with server.client() as api:
        lines = api.get(f"/jobs/{lease['job_id']}/logs").json()["lines"]
    text = "".join(line["text"] for line in lines)
    assert DEPLOY not in text and CI not in text and "***" in text
    assert DEPLOY not in server.log() and CI not in server.log()

    assert broker(server, tok, f"/leases/{body['lease_id']}/release").status_code == 204
    assert broker(server, tok, "/leases/sls_nope/release").status_code == 404


def test_grants_follow_ref_and_environment(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, sha = repo
    agent = ProtocolAgent.register(server, "trusted")
    # environment production, but a branch other than main: deploy is not granted, ci is
    submit(server, path, sha, ENV_PIPELINE, ref="feature")
    lease = lease_job(agent)
    tok = token(agent, lease["lease_id"], SECRETS_AUDIENCE)
    body = broker(server, tok, "/lease", {"step": 0, "names": ["DEPLOY_KEY", "CI_TOKEN"]}).json()
    assert body["values"] == {"CI_TOKEN": CI}
    assert "ref refs/heads/feature matches none of refs/heads/main" in body["refused"]["DEPLOY_KEY"]
    # main, but no environment: deploy still refused
    submit(server, path, sha, PIPELINE.replace("[CI_TOKEN]", "[CI_TOKEN, DEPLOY_KEY]"))
    lease = lease_job(agent)
    tok = token(agent, lease["lease_id"], SECRETS_AUDIENCE)
    body = broker(server, tok, "/lease", {"step": 0, "names": ["DEPLOY_KEY"]}).json()
    assert body["values"] == {} and "environment (none)" in body["refused"]["DEPLOY_KEY"]


def test_a_held_log_is_for_admins_until_released(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, sha = repo
    run = submit(server, path, sha, PIPELINE)
    agent = ProtocolAgent.register(server, "trusted")
    lease = lease_job(agent)
    lid, job_id = lease["lease_id"], lease["job_id"]
    agent.log(lid, "fine\n").raise_for_status()
    chunk = {"seq": 1, "step": 0, "stream": "stdout", "ts": time.time(), "text": "leaky\n"}
    agent.post(f"/leases/{lid}/logs", {"chunks": [chunk], "hold": True}).raise_for_status()
    viewer, maintainer = server.token("viewer"), server.token("maintainer")
    for who in (viewer, maintainer):
        with server.client(who) as api:
            assert api.get(f"/jobs/{job_id}").json()["log_held"] is True
            for url in (f"/jobs/{job_id}/logs", f"/runs/{run['id']}/logs"):
                refused = api.get(url)
                assert refused.status_code == 403 and refused.json()["code"] == "log_held"
                assert "admin" in refused.json()["hint"]
            assert api.post(f"/jobs/{job_id}/release-log").status_code == 403
    with server.client() as api:
        assert len(api.get(f"/jobs/{job_id}/logs").json()["lines"]) == 2
        assert len(api.get(f"/runs/{run['id']}/logs").json()["lines"]) == 2
        released = api.post(f"/jobs/{job_id}/release-log")
        assert released.status_code == 200 and released.json()["log_held"] is False
        assert api.post(f"/jobs/{job_id}/release-log").status_code == 409
    with server.client(viewer) as api:
        assert api.get(f"/jobs/{job_id}/logs").status_code == 200
    db = Database(f"sqlite:///{server.home / 'stockade.db'}")
    events = hold_events(db, job_id)
    db.dispose()
    assert [(e["action"], e["actor"]) for e in events] == [("hold", agent.agent_id), ("release", "admin")]


def test_a_viewer_following_a_log_is_stopped_by_a_hold(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, sha = repo
    submit(server, path, sha, PIPELINE)
    agent = ProtocolAgent.register(server, "trusted")
    lease = lease_job(agent)
    agent.log(lease["lease_id"], "first\n").raise_for_status()
    seen: list[str] = []
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {server.token('viewer')}"}) as api, \
            api.stream("GET", f"/jobs/{lease['job_id']}/logs", params={"follow": "true"}) as stream:
        for line in stream.iter_lines():
            seen.append(line)
            if line.startswith("data:") and "first" in line:
                chunk = {"seq": 1, "step": 0, "stream": "stdout", "ts": time.time(), "text": "x\n"}
                agent.post(f"/leases/{lease['lease_id']}/logs",
                           {"chunks": [chunk], "hold": True}).raise_for_status()
            if line == "event: held":
                break
    assert "event: held" in seen and not any('"x\\n"' in line for line in seen)
