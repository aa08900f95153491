"""Submit -> lease -> logs -> complete, through a real server over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.integration.server.harness import (
    ProtocolAgent,
    ServerHandle,
    commit,
    make_repo,
    pipeline_yaml,
)


def submit(server: ServerHandle, repo: Path, **body: object) -> dict:
    with server.client() as api:
        answer = api.post("/runs", json={"repository": str(repo), **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def get_run(server: ServerHandle, run_id: str) -> dict:
    with server.client() as api:
        return api.get(f"/runs/{run_id}").json()


def jobs_by_name(run: dict) -> dict[str, dict]:
    return {j["name"]: j for j in run["jobs"]}


def test_a_run_goes_from_submit_to_success(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, sha = repo
    run = submit(server, path, ref="main")
    assert run["sha"] == sha
    assert run["tier"] == "trusted" and run["pool"] == "trusted"
    assert run["policy_hash"].startswith("sha256:") and run["rule"] == "manual-runs"
    assert {j["name"]: j["status"] for j in run["jobs"]} == {"build": "queued", "test": "pending"}

    agent = ProtocolAgent.register(server, "trusted")
    first = agent.run_one()
    assert first is not None and first["job"]["name"] == "build"
    assert first["checkout"] == {"repo_url": str(path), "sha": sha}
    assert first["attempt"] == 1 and first["tier"] == "trusted"
    second = agent.run_one()
    assert second is not None and second["job"]["name"] == "test"
    assert agent.lease(wait_s=0.2) is None

    done = get_run(server, run["id"])
    assert done["status"] == "success"
    assert all(j["status"] == "success" for j in done["jobs"])
    assert jobs_by_name(done)["build"]["steps"] == [
        {"index": 0, "name": "build-step", "status": "success", "exit_code": 0, "duration_s": 0.01}
    ]
    with server.client() as api:
        page = api.get(f"/runs/{run['id']}/logs").json()
        job_page = api.get(f"/jobs/{first['job_id']}/logs").json()
    assert [line["text"] for line in page["lines"]] == ["running build\n", "running test\n"]
    assert page["done"] is True
    assert [line["text"] for line in job_page["lines"]] == ["running build\n"]


def test_short_sha_and_ref_resolve_to_the_full_sha(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, sha = repo
    assert submit(server, path, sha=sha[:8])["sha"] == sha
    assert submit(server, path, ref="main")["sha"] == sha


def test_the_pipeline_comes_from_the_commit_under_test(server: ServerHandle, tmp_path: Path) -> None:
    path, old = make_repo(tmp_path / "r", pipeline_yaml({"old": []}))
    commit(path, pipeline_yaml({"new1": [], "new2": []}))
    (path / ".stockade.yml").write_text(pipeline_yaml({"dirty": []}))  # never read: not committed
    assert [j["name"] for j in submit(server, path, sha=old)["jobs"]] == ["old"]
    assert [j["name"] for j in submit(server, path, ref="main")["jobs"]] == ["new1", "new2"]


def test_a_failed_need_skips_its_dependents_transitively(server: ServerHandle, tmp_path: Path) -> None:
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"a": [], "b": ["a"], "c": ["b"], "d": []}))
    run = submit(server, path)
    agent = ProtocolAgent.register(server, "trusted")
    leased = []
    for _ in range(2):
        lease = agent.lease(wait_s=2)
        assert lease is not None
        leased.append(lease["job"]["name"])
        outcome = "failed" if lease["job"]["name"] == "a" else "success"
        agent.complete(lease["lease_id"], outcome).raise_for_status()
    assert sorted(leased) == ["a", "d"]
    final = get_run(server, run["id"])
    statuses = {j["name"]: j["status"] for j in final["jobs"]}
    assert statuses == {"a": "failed", "b": "skipped", "c": "skipped", "d": "success"}
    assert "needs a which ended failed" in jobs_by_name(final)["b"]["detail"]
    assert final["status"] == "failed"


def test_an_invalid_pipeline_is_refused_with_located_problems(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, _ = repo
    with server.client() as api:
        answer = api.post("/runs", json={"repository": str(path), "pipeline": "version: 1\njobs:\n  a: {stepz: []}\n"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid_pipeline"
    assert any(p["field"] == "jobs.a.stepz" and p["line"] == 3 for p in body["problems"])
    with server.client() as api:
        assert api.get("/runs").json()["runs"] == []


def test_a_commit_without_a_pipeline_is_refused(server: ServerHandle, tmp_path: Path) -> None:
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"a": []}))
    (path / ".stockade.yml").unlink()
    sha = commit(path, None, message="drop pipeline")
    with server.client() as api:
        answer = api.post("/runs", json={"repository": str(path), "sha": sha})
        unknown = api.post("/runs", json={"repository": str(path), "sha": "deadbeef"})
    assert answer.status_code == 400 and answer.json()["code"] == "no_pipeline"
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_revision"


def test_a_job_using_a_reserved_key_is_denied_never_run(server: ServerHandle, tmp_path: Path) -> None:
    yaml = pipeline_yaml({"net": [], "after": ["net"], "plain": []}, extra={"net": "artifacts: [dist/]"})
    path, _ = make_repo(tmp_path / "r", yaml)
    run = submit(server, path)
    jobs = jobs_by_name(run)
    assert jobs["net"]["status"] == "denied"
    assert jobs["net"]["detail"] == "artifacts is not supported yet"
    assert jobs["after"]["status"] == "skipped"
    agent = ProtocolAgent.register(server, "trusted")
    assert agent.run_one()["job"]["name"] == "plain"
    assert agent.lease(wait_s=0.2) is None
    assert get_run(server, run["id"])["status"] == "failed"


def test_a_job_may_narrow_its_tiers_egress_but_never_widen_it(server: ServerHandle, tmp_path: Path) -> None:
    yaml = pipeline_yaml({"narrow": [], "wide": [], "audit": []}, extra={
        "narrow": "egress: [pypi.org]", "wide": "egress: [pypi.org, evil.example]",
        "audit": "egress: {mode: audit}"})
    path, _ = make_repo(tmp_path / "r", yaml)
    jobs = jobs_by_name(submit(server, path))
    assert jobs["narrow"]["status"] == "queued"
    assert jobs["wide"]["status"] == "denied"
    assert "evil.example is not allowed by tier trusted" in jobs["wide"]["detail"]
    assert jobs["audit"]["status"] == "denied"
    assert "audit mode" in jobs["audit"]["detail"]
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=5)
    assert lease is not None and lease["job"]["name"] == "narrow"
    assert lease["job"]["egress"]["allow"] == ["pypi.org"]
    assert lease["job"]["egress"]["mode"] == "enforce"


def test_a_pipeline_may_lower_its_tier_but_never_raise_it(server: ServerHandle, tmp_path: Path) -> None:
    yaml = pipeline_yaml({"low": [], "high": []}, extra={"low": "tier: untrusted", "high": "tier: release"})
    path, _ = make_repo(tmp_path / "r", yaml)
    run = submit(server, path)
    jobs = jobs_by_name(run)
    assert (jobs["low"]["tier"], jobs["low"]["pool"], jobs["low"]["status"]) == ("untrusted", "untrusted", "queued")
    assert jobs["high"]["status"] == "denied" and "release" in jobs["high"]["detail"]
    with server.client() as api:
        higher = api.post("/runs", json={"repository": str(path), "tier": "release"})
    assert higher.status_code == 403 and higher.json()["code"] == "policy_denied"
    trusted_agent = ProtocolAgent.register(server, "trusted")
    assert trusted_agent.lease(wait_s=0.2) is None  # the lowered job runs on the untrusted pool only
    assert ProtocolAgent.register(server, "untrusted").run_one()["job"]["name"] == "low"


def test_limits_are_capped_by_the_tier(server: ServerHandle, tmp_path: Path) -> None:
    yaml = pipeline_yaml({"big": []}, extra={"big": "timeout: 30m"})
    path, _ = make_repo(tmp_path / "r", yaml)
    submit(server, path)
    lease = ProtocolAgent.register(server, "trusted").lease(wait_s=2)
    assert lease is not None
    assert lease["job"]["resources"]["timeout_s"] == 1800.0
    assert lease["job"]["resources"]["memory_bytes"] <= 4 * 1024**3


def test_follow_streams_lines_as_they_arrive_and_ends_with_the_status(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, _ = repo
    run = submit(server, path, pipeline=pipeline_yaml({"only": []}))
    agent = ProtocolAgent.register(server, "trusted")
    lease = agent.lease(wait_s=2)
    assert lease is not None
    agent.log(lease["lease_id"], "one\n").raise_for_status()
    events: list[str] = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30) as http, \
            http.stream("GET", f"/api/v1/jobs/{lease['job_id']}/logs", params={"follow": "true"}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        for line in lines:
            if line.startswith("data:"):
                events.append(line)
                if len(events) == 1:  # the stream is open and has sent the first line: add more
                    agent.log(lease["lease_id"], "two\n", start=1).raise_for_status()
                    agent.complete(lease["lease_id"], "success", last_seq=1).raise_for_status()
            if line.startswith("event: end"):
                events.append(line)
                events.append(next(lines))
                break
    assert '"text":"one\\n"' in events[0] and '"text":"two\\n"' in events[1]
    assert events[2] == "event: end" and events[3] == 'data: {"status": "success"}'
    assert get_run(server, run["id"])["status"] == "success"


def test_openapi_and_health_are_served(server: ServerHandle) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/api/v1/runs" in paths and "/api/v1/agents/lease" in paths


def test_following_a_run_streams_every_job_and_ends_with_the_run(server: ServerHandle, repo: tuple[Path, str]) -> None:
    path, _ = repo
    run = submit(server, path)
    agent = ProtocolAgent.register(server, "trusted")
    texts: list[str] = []
    end = ""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30) as http, \
            http.stream("GET", f"/api/v1/runs/{run['id']}/logs", params={"follow": "true"}) as stream:
        agent.run_one()  # build, while the stream is open
        agent.run_one()  # test
        lines = stream.iter_lines()
        for line in lines:
            if line.startswith("data:"):
                texts.append(json.loads(line[5:])["text"])
            elif line == "event: end":
                end = next(lines)
                break
    assert texts == ["running build\n", "running test\n"]
    assert end == 'data: {"status": "success"}'
