"""Wrong credentials: roles, agent pools, registration tokens that are expired or reused."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo, pipeline_yaml


def register(server: ServerHandle, token: str, pool: str) -> httpx.Response:
    return httpx.post(
        server.url + "/api/v1/agents/register",
        json={"registration_token": token, "name": "n", "pool": pool},
    )


def registration_token(server: ServerHandle, pool: str, ttl_s: float | None = None) -> str:
    body: dict[str, object] = {"pool": pool}
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    with server.client() as api:
        answer = api.post("/agents/registration-tokens", json=body)
    assert answer.status_code == 201
    return str(answer.json()["token"])


def test_admin_token_file_is_private(shared_server: ServerHandle) -> None:
    path = shared_server.home / "admin.token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert shared_server.admin_token not in shared_server.log()


def test_roles_limit_what_people_can_do(shared_server: ServerHandle) -> None:
    viewer = shared_server.token("viewer")
    maintainer = shared_server.token("maintainer")
    with shared_server.client(viewer) as api:
        assert api.get("/runs").status_code == 200
        denied = api.post("/runs", json={"repository": "/x"})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
        assert api.post("/tokens", json={"name": "x", "role": "admin"}).status_code == 403
    with shared_server.client(maintainer) as api:
        assert api.post("/tokens", json={"name": "x", "role": "admin"}).status_code == 403
        assert api.post("/agents/registration-tokens", json={"pool": "trusted"}).status_code == 403
    with shared_server.client("") as api:
        missing = api.get("/runs")
    with shared_server.client("stk_not-a-real-token") as api:
        wrong = api.get("/runs")
    for answer in (missing, wrong):
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    with shared_server.client() as api:
        listed = api.get("/tokens").json()["tokens"]
    assert {"viewer", "maintainer", "admin"} <= {t["role"] for t in listed}
    assert all("token" not in t for t in listed)


def test_a_registration_token_works_once(shared_server: ServerHandle) -> None:
    token = registration_token(shared_server, "trusted")
    assert register(shared_server, token, "trusted").status_code == 200
    again = register(shared_server, token, "trusted")
    assert again.status_code == 401 and again.json()["code"] == "registration_token_used"
    bogus = register(shared_server, "stkr_neverissued", "trusted")
    assert bogus.status_code == 401 and bogus.json()["code"] == "invalid_registration_token"


def test_an_expired_registration_token_is_refused(shared_server: ServerHandle) -> None:
    token = registration_token(shared_server, "trusted", ttl_s=0.2)
    time.sleep(0.5)
    answer = register(shared_server, token, "trusted")
    assert answer.status_code == 401 and answer.json()["code"] == "registration_token_expired"


def test_a_registration_token_is_bound_to_its_pool(shared_server: ServerHandle) -> None:
    token = registration_token(shared_server, "untrusted")
    answer = register(shared_server, token, "release")
    assert answer.status_code == 403 and answer.json()["code"] == "pool_mismatch"
    assert register(shared_server, token, "untrusted").status_code == 200  # not burnt by the refusal


def test_people_tokens_are_not_agent_credentials(shared_server: ServerHandle) -> None:
    answer = httpx.post(
        shared_server.url + "/api/v1/agents/lease",
        json={"wait_s": 0},
        headers={"Authorization": f"Bearer {shared_server.admin_token}"},
    )
    assert answer.status_code == 401


def test_an_agent_of_one_pool_never_touches_another_pools_work(
    server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    server = server_factory()
    path, _ = make_repo(tmp_path / "r", pipeline_yaml({"j": []}))
    with server.client() as api:
        api.post("/runs", json={"repository": str(path)}).raise_for_status()  # a trusted job
    untrusted = ProtocolAgent.register(server, "untrusted")
    assert untrusted.lease(wait_s=0.3) is None
    trusted = ProtocolAgent.register(server, "trusted")
    lease = trusted.lease(wait_s=2)
    assert lease is not None
    lid = lease["lease_id"]
    attempts = [
        untrusted.heartbeat(lid),
        untrusted.log(lid, "injected\n"),
        untrusted.step(lid, 0, "j-step", "success", 0),
        untrusted.complete(lid, "success"),
        untrusted.post(f"/leases/{lid}/release", {"reason": "steal"}),
    ]
    for answer in attempts:
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "lease_forbidden"
    with server.client() as api:
        assert api.get(f"/jobs/{lease['job_id']}/logs").json()["lines"] == []
    assert trusted.complete(lid, "success").status_code == 204
