"""The OIDC issuer on a real server: discovery, JWKS verified by PyJWT's own client, claims for
push, pull_request and environment jobs, refusals, audit, rotation. Helpers here are reused by
test_secrets.py and tests/security/test_tokens.py."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from stockade.api.agent import SECRETS_AUDIENCE
from stockade.server.submit import repository_name
from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo

POLICY = textwrap.dedent("""\
    version: 1
    tiers:
      untrusted:
        pool: untrusted
        limits: {cpus: 1, memory: 1Gi, pids: 512, disk: 2Gi, timeout: 30m}
        token_audiences: [public.example]
      trusted:
        pool: trusted
        limits: {cpus: 2, memory: 4Gi, pids: 1024, disk: 8Gi, timeout: 1h}
        secret_classes: [ci, deploy]
        token_audiences: [sts.amazonaws.com, vault.example]
        mask_fail_closed: true
      release:
        pool: release
        limits: {cpus: 2, memory: 4Gi, pids: 1024, disk: 8Gi, timeout: 2h}
        secret_classes: [deploy]
        token_audiences: [sts.amazonaws.com]
    rules:
      - name: fork-pull-requests
        match: {event: [pull_request], fork: true}
        tier: untrusted
      - name: branches
        match: {event: [push], ref: ["refs/heads/**"]}
        tier: trusted
      - name: member-prs
        match: {event: [pull_request], fork: false, author_association: [OWNER, MEMBER]}
        tier: trusted
      - name: manual
        match: {event: [manual]}
        tier: trusted
    secret_grants:
      - {class: ci, tiers: [trusted]}
      - {class: deploy, tiers: [trusted, release], refs: [refs/heads/main],
         environments: [production]}
    """)

PIPELINE = textwrap.dedent("""\
    version: 1
    jobs:
      build:
        id-token: true
        steps:
          - name: compile
            run: echo build
            secrets: [CI_TOKEN]
          - name: plain
            run: echo plain
    """)

ENV_PIPELINE = textwrap.dedent("""\
    version: 1
    jobs:
      ship:
        id-token: true
        environment: production
        steps:
          - name: deploy
            run: echo deploy
            secrets: [DEPLOY_KEY, CI_TOKEN, MISSING_ONE]
    """)

NO_TOKEN_PIPELINE = textwrap.dedent("""\
    version: 1
    jobs:
      quiet:
        steps:
          - name: only
            run: echo quiet
    """)

Factory = Callable[..., ServerHandle]


def start(server_factory: Factory, tmp_path: Path, **settings: Any) -> ServerHandle:
    """A server with POLICY (and ``settings``)."""
    path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.yml"
    path.write_text(POLICY)
    return server_factory(policy_file=str(path), **settings)


def submit(server: ServerHandle, repo: Path, sha: str, pipeline: str, *, event: str = "push",
           ref: str = "main", tier: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"repository": str(repo), "ref": ref, "sha": sha, "event": event,
                            "pipeline": pipeline}
    if tier:
        body["tier"] = tier
    with server.client() as api:
        made = api.post("/runs", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def lease_job(agent: ProtocolAgent) -> dict[str, Any]:
    lease = agent.lease(wait_s=10)
    assert lease is not None, "no job was leased"
    return lease


def ask_token(agent: ProtocolAgent, lease_id: str, audience: str,
              image_digest: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"audience": audience}
    if image_digest:
        body["image_digest"] = image_digest
    return agent.post(f"/leases/{lease_id}/id-token", body)


def token(agent: ProtocolAgent, lease_id: str, audience: str, **kw: Any) -> str:
    answer = ask_token(agent, lease_id, audience, **kw)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def discover(server: ServerHandle) -> dict[str, Any]:
    answer = httpx.get(server.url + "/.well-known/openid-configuration")
    assert answer.status_code == 200
    return dict(answer.json())


def verify_like_a_relying_party(server: ServerHandle, tok: str, audience: str) -> dict[str, Any]:
    """What AWS or Vault do: discovery document -> jwks_uri -> key by kid -> verify."""
    meta = discover(server)
    client = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=False)
    key = client.get_signing_key_from_jwt(tok)
    return dict(jwt.decode(tok, key.key, algorithms=meta["id_token_signing_alg_values_supported"],
                           audience=audience, issuer=meta["issuer"]))


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    return make_repo(tmp_path / "repo", PIPELINE)


def test_discovery_document_names_the_issuer_and_keys(server_factory: Factory, tmp_path: Path) -> None:
    server = start(server_factory, tmp_path)
    meta = discover(server)
    assert meta["issuer"] == server.url
    assert meta["jwks_uri"] == server.url + "/.well-known/jwks.json"
    assert meta["response_types_supported"] == ["id_token"]
    assert meta["subject_types_supported"] == ["public"]
    assert meta["scopes_supported"] == ["openid"]
    assert "ES256" in meta["id_token_signing_alg_values_supported"]
    assert {"sub", "repository", "runner_id", "image_digest"} <= set(meta["claims_supported"])
    assert meta["stockade_revocations_uri"] == server.url + "/.well-known/stockade-revocations.json"
    keys = httpx.get(meta["jwks_uri"]).json()["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
    assert key["use"] == "sig" and key["kid"] and key["x"] and key["y"]
    assert "d" not in key  # never the private half


def test_push_job_token_verifies_with_pyjwkclient_and_carries_its_claims(
    server_factory: Factory, tmp_path: Path, repo: tuple[Path, str]
) -> None:
    server = start(server_factory, tmp_path)
    path, sha = repo
    run = submit(server, path, sha, PIPELINE)
    agent = ProtocolAgent.register(server, "trusted")
    lease = lease_job(agent)
    digest = "sha256:" + "b" * 64
    before = int(time.time())
    tok = token(agent, lease["lease_id"], "sts.amazonaws.com", image_digest=digest)
    claims = verify_like_a_relying_party(server, tok, "sts.amazonaws.com")
    name = repository_name(run["repository"])
    assert claims["iss"] == server.url and claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == f"repo:{name}:ref:refs/heads/main"
    assert claims["repository"] == name and claims["repository_id"].isdigit()
    assert claims["ref"] == "refs/heads/main" and claims["ref_type"] == "branch"
    assert claims["sha"] == sha and claims["event_name"] == "push"
    assert claims["run_id"] == run["id"] and claims["run_attempt"] == "1"
    assert claims["job"] == "build" and claims["job_id"] == lease["job_id"]
    assert claims["tier"] == "trusted" and claims["pool"] == "trusted"
    assert claims["runner_id"] == agent.agent_id
    assert claims["image_digest"] == digest
    assert claims["pipeline_path"] == ".stockade.yml"
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"].startswith("jti_")
    assert "environment" not in claims
    # one audience each: the same token is no good for another
    with pytest.raises(jwt.InvalidAudienceError):
        verify_like_a_relying_party(server, tok, "vault.example")


def test_pull_request_and_environment_subjects(
    server_factory: Factory, tmp_path: Path, repo: tuple[Path, str]
) -> None:
    server = start(server_factory, tmp_path)
    path, sha = repo
    agent = ProtocolAgent.register(server, "trusted")
    pr = submit(server, path, sha, PIPELINE, event="pull_request", ref="refs/pull/7/head")
    lease = lease_job(agent)
    claims = verify_like_a_relying_party(
        server, token(agent, lease["lease_id"], "vault.example"), "vault.example")
    name = repository_name(pr["repository"])
    assert claims["sub"] == f"repo:{name}:pull_request"
    assert claims["event_name"] == "pull_request" and claims["ref"] == "refs/pull/7/head"
    assert claims["ref_type"] == "pull_request" and claims["image_digest"] is None

    submit(server, path, sha, ENV_PIPELINE, event="pull_request", ref="refs/pull/8/head")
    lease = lease_job(agent)
    claims = verify_like_a_relying_party(
        server, token(agent, lease["lease_id"], "vault.example"), "vault.example")
    # environment > pull_request > ref
    assert claims["sub"] == f"repo:{name}:environment:production"
    assert claims["environment"] == "production"


def test_refusals_are_403_with_a_hint_and_every_decision_is_audited(
    server_factory: Factory, tmp_path: Path, repo: tuple[Path, str]
) -> None:
    server = start(server_factory, tmp_path)
    path, sha = repo
    agent = ProtocolAgent.register(server, "trusted")
    submit(server, path, sha, NO_TOKEN_PIPELINE)
    lease = lease_job(agent)
    lid = lease["lease_id"]
    undeclared = ask_token(agent, lid, "sts.amazonaws.com")
    assert undeclared.status_code == 403 and undeclared.json()["code"] == "policy_denied"
    assert "id-token: true" in undeclared.json()["hint"]
    # no step declares secrets: no broker token either
    assert ask_token(agent, lid, SECRETS_AUDIENCE).status_code == 403

    submit(server, path, sha, PIPELINE)
    lid = lease_job(agent)["lease_id"]
    other = ask_token(agent, lid, "s3.example")
    assert other.status_code == 403 and "token_audiences" in other.json()["hint"]
    assert ask_token(agent, lid, SECRETS_AUDIENCE).status_code == 200  # a step has secrets
    # another agent of the pool cannot have a token for this lease
    thief = ProtocolAgent.register(server, "trusted", name="thief")
    stolen = ask_token(thief, lid, "sts.amazonaws.com")
    assert stolen.status_code == 409 and stolen.json()["code"] == "lease_lost"
    # once the lease is over, no more tokens
    agent.complete(lid).raise_for_status()
    gone = ask_token(agent, lid, "sts.amazonaws.com")
    assert gone.status_code == 409 and gone.json()["code"] == "lease_lost"

    from stockade.store.database import Database
    from stockade.store.idtokens import token_events

    db = Database(f"sqlite:///{server.home / 'stockade.db'}")
    events = token_events(db, lease["job_id"])
    db.dispose()
    assert [(e["audience"], e["decision"]) for e in events] == [
        ("sts.amazonaws.com", "refused"), (SECRETS_AUDIENCE, "refused")]
    assert all(e["policy_hash"].startswith("sha256:") and e["reason"] for e in events)
    assert "eyJ" not in server.log()  # a token is never logged


def test_an_rs256_issuer(server_factory: Factory, tmp_path: Path, repo: tuple[Path, str]) -> None:
    server = start(server_factory, tmp_path, id_token_alg="RS256")
    path, sha = repo
    submit(server, path, sha, PIPELINE)
    agent = ProtocolAgent.register(server, "trusted")
    tok = token(agent, lease_job(agent)["lease_id"], "sts.amazonaws.com")
    assert jwt.get_unverified_header(tok)["alg"] == "RS256"
    (key,) = httpx.get(discover(server)["jwks_uri"]).json()["keys"]
    assert key["kty"] == "RSA" and key["n"] and key["e"] == "AQAB"
    assert verify_like_a_relying_party(server, tok, "sts.amazonaws.com")["tier"] == "trusted"


def test_rotation_keeps_the_old_key_until_its_last_token_expired(
    server_factory: Factory, tmp_path: Path, repo: tuple[Path, str]
) -> None:
    server = start(server_factory, tmp_path, signing_key_rotation_s=2, id_token_lifetime_s=6)
    path, sha = repo
    submit(server, path, sha, PIPELINE)
    agent = ProtocolAgent.register(server, "trusted")
    lid = lease_job(agent)["lease_id"]
    old = token(agent, lid, "sts.amazonaws.com")
    old_kid = jwt.get_unverified_header(old)["kid"]
    jwks_uri = discover(server)["jwks_uri"]

    def kids() -> list[str]:
        return [k["kid"] for k in httpx.get(jwks_uri).json()["keys"]]

    deadline = time.monotonic() + 10
    while len(kids()) < 2 and time.monotonic() < deadline:
        agent.heartbeat(lid)
        time.sleep(0.2)
    assert old_kid in kids() and len(kids()) == 2  # rotated; the old key still published
    new = token(agent, lid, "sts.amazonaws.com")
    assert jwt.get_unverified_header(new)["kid"] != old_kid
    verify_like_a_relying_party(server, old, "sts.amazonaws.com")  # still verifies
    deadline = time.monotonic() + 20
    while old_kid in kids() and time.monotonic() < deadline:
        agent.heartbeat(lid)
        time.sleep(0.2)
    assert old_kid not in kids()  # dropped once its tokens expired (retired + lifetime)


def test_the_server_refuses_a_master_key_others_can_read_or_a_wrong_one(
    server_factory: Factory, tmp_path: Path
) -> None:
    server = start(server_factory, tmp_path)
    server.stop()
    key = server.home / "master.key"
    key.chmod(0o644)
    with pytest.raises(RuntimeError, match="group or others"):
        server.start()
    key.chmod(0o600)
    good = key.read_bytes()
    key.write_bytes(bytes(32))  # another key: the stored signing key does not decrypt
    with pytest.raises(RuntimeError, match="does not decrypt"):
        server.start()
    key.write_bytes(good)
    assert discover(server.start())["issuer"] == server.url
