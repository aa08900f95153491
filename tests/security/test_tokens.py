"""Hostile job tokens against a real server's secrets broker: wrong audience, expired, tampered
payload or signature, ``alg: none``, HS256 key confusion, replay after the job ended, every kind
of revocation; a fork pull request gets no secrets and no token for a trusted audience."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from stockade.api.agent import SECRETS_AUDIENCE
from tests.integration.server.conftest import server_factory  # noqa: F401 (fixture)
from tests.integration.server.harness import ProtocolAgent, ServerHandle, make_repo
from tests.integration.server.test_identity import (
    PIPELINE,
    Factory,
    ask_token,
    discover,
    lease_job,
    start,
    submit,
    token,
)
from tests.integration.server.test_webhooks import SECRET, deliver, pull_request, repo_json

VALUE = "ci-token-9876543210-zyxwv"
ASK = {"step": 0, "names": ["CI_TOKEN"]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def lease_secrets(server: ServerHandle, tok: str, body: Any = ASK) -> httpx.Response:
    return httpx.post(server.url + "/api/v1/secrets/lease", json=body,
                      headers={"Authorization": f"Bearer {tok}"})


def refused(answer: httpx.Response) -> bool:
    return answer.status_code in (401, 403) and VALUE not in answer.text


class Env:
    """A server with one secret, a repository and an agent of the trusted pool."""

    def __init__(self, server: ServerHandle, tmp_path: Path) -> None:
        self.server = server
        with server.client() as api:
            api.put("/secrets/CI_TOKEN", json={"value": VALUE, "class": "ci"}).raise_for_status()
        self.path, self.sha = make_repo(tmp_path / "repo", PIPELINE)
        self.agent = ProtocolAgent.register(server, "trusted")

    def job(self) -> dict[str, Any]:
        submit(self.server, self.path, self.sha, PIPELINE)
        return lease_job(self.agent)

    def broker_token(self, lease: dict[str, Any]) -> str:
        return token(self.agent, lease["lease_id"], SECRETS_AUDIENCE)

    def revoke(self, **body: Any) -> None:
        with self.server.client() as api:
            api.post("/revocations", json=body).raise_for_status()


@pytest.fixture
def env(server_factory: Factory, tmp_path: Path) -> Env:  # noqa: F811
    return Env(start(server_factory, tmp_path), tmp_path)


def test_a_good_token_works(env: Env) -> None:
    answer = lease_secrets(env.server, env.broker_token(env.job()))
    assert answer.status_code == 200 and answer.json()["values"] == {"CI_TOKEN": VALUE}


def test_a_token_for_another_audience_is_refused(env: Env) -> None:
    lease = env.job()
    other = token(env.agent, lease["lease_id"], "sts.amazonaws.com")
    answer = lease_secrets(env.server, other)
    assert refused(answer) and answer.json()["code"] == "invalid_token"
    assert "audience" in answer.json()["message"]


def test_tampered_payload_and_signature_are_refused(env: Env) -> None:
    tok = env.broker_token(env.job())
    head, payload, sig = tok.split(".")
    claims = json.loads(unb64(payload))
    claims["tier"] = "release"
    forged = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    assert refused(lease_secrets(env.server, forged))
    flipped = bytearray(unb64(sig))
    flipped[5] ^= 1
    assert refused(lease_secrets(env.server, f"{head}.{payload}.{b64(bytes(flipped))}"))
    assert refused(lease_secrets(env.server, f"{head}.{payload}."))
    assert refused(lease_secrets(env.server, "not-a-jwt"))
    assert lease_secrets(env.server, tok).status_code == 200  # the original still works


def test_alg_none_and_hs256_key_confusion_are_refused(env: Env) -> None:
    tok = env.broker_token(env.job())
    header = jwt.get_unverified_header(tok)
    claims = jwt.decode(tok, options={"verify_signature": False})
    none_head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": header["kid"]}).encode())
    body = b64(json.dumps(claims).encode())
    assert refused(lease_secrets(env.server, f"{none_head}.{body}."))
    # HS256 with the published public key as the HMAC secret, in the forms a library might use
    (jwk,) = httpx.get(discover(env.server)["jwks_uri"]).json()["keys"]
    public = jwt.PyJWK(jwk).key
    from cryptography.hazmat.primitives import serialization

    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (pem, json.dumps(jwk).encode()):
        hs_head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode())
        signing_input = f"{hs_head}.{body}".encode()
        mac = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        assert refused(lease_secrets(env.server, f"{hs_head}.{body}.{mac}"))


def test_an_expired_token_is_refused(server_factory: Factory, tmp_path: Path) -> None:  # noqa: F811
    env = Env(start(server_factory, tmp_path, id_token_lifetime_s=1), tmp_path)
    tok = env.broker_token(env.job())
    time.sleep(2.2)
    answer = lease_secrets(env.server, tok)
    assert refused(answer) and "expired" in answer.json()["message"]


def test_a_token_replayed_after_its_job_ended_is_refused(env: Env) -> None:
    lease = env.job()
    tok = env.broker_token(lease)
    assert lease_secrets(env.server, tok).status_code == 200
    env.agent.complete(lease["lease_id"]).raise_for_status()
    answer = lease_secrets(env.server, tok)
    assert refused(answer) and answer.json()["code"] == "token_revoked"
    assert "no longer running" in answer.json()["message"]


def test_a_cancelled_job_token_is_refused(env: Env) -> None:
    lease = env.job()
    tok = env.broker_token(lease)
    with env.server.client() as api:
        api.post(f"/runs/{lease['run_id']}/cancel").raise_for_status()
    env.agent.complete(lease["lease_id"], "cancelled").raise_for_status()
    assert refused(lease_secrets(env.server, tok))


def test_every_kind_of_revocation_is_refused_and_published(env: Env) -> None:
    def revoked(body: dict[str, Any], lease: dict[str, Any], tok: str) -> None:
        env.revoke(**body)
        answer = lease_secrets(env.server, tok)
        assert refused(answer) and answer.json()["code"] == "token_revoked", body

    lease = env.job()
    tok = env.broker_token(lease)
    revoked({"kind": "jti", "value": jwt.decode(tok, options={"verify_signature": False})["jti"]},
            lease, tok)
    fresh = env.broker_token(lease)  # another jti of the same job still works
    assert lease_secrets(env.server, fresh).status_code == 200
    revoked({"kind": "job", "value": lease["job_id"]}, lease, fresh)
    # a revoked job gets no new token either
    assert ask_token(env.agent, lease["lease_id"], SECRETS_AUDIENCE).status_code == 403

    lease = env.job()
    revoked({"kind": "run", "value": lease["run_id"]}, lease, env.broker_token(lease))

    lease = env.job()
    before = time.time() - 1
    tok = env.broker_token(lease)
    revoked({"kind": "window", "issued_after": before, "issued_before": time.time() + 1}, lease, tok)
    time.sleep(2.5)  # after the window: a new token of the same job is fine
    assert lease_secrets(env.server, env.broker_token(lease)).status_code == 200

    lease = env.job()
    revoked({"kind": "agent", "value": env.agent.agent_id}, lease, env.broker_token(lease))

    meta = discover(env.server)
    listed = httpx.get(meta["stockade_revocations_uri"]).json()
    assert listed["issuer"] == meta["issuer"]
    assert [r["kind"] for r in listed["revocations"]] == ["jti", "job", "run", "window", "agent"]
    with env.server.client() as api:
        bad = api.post("/revocations", json={"kind": "window"})
        assert bad.status_code == 400
    with env.server.client(env.server.token("maintainer")) as api:
        assert api.post("/revocations", json={"kind": "job", "value": "x"}).status_code == 403


def test_a_fork_pull_request_gets_no_secrets_and_no_trusted_audience(
    server_factory: Factory, tmp_path: Path  # noqa: F811
) -> None:
    server = start(server_factory, tmp_path, webhook_secret=SECRET)
    env = Env(server, tmp_path)
    fork = repo_json(tmp_path / "fork", repo_id=2, name="mallory/app")
    answer = deliver(server, "pull_request", pull_request(env.path, env.sha, head_repo=fork))
    assert answer.status_code == 201, answer.text
    agent = ProtocolAgent.register(server, "untrusted", name="untrusted-agent")
    lease = lease_job(agent)
    assert lease["tier"] == "untrusted"
    trusted_aud = ask_token(agent, lease["lease_id"], "sts.amazonaws.com")
    assert trusted_aud.status_code == 403 and trusted_aud.json()["code"] == "policy_denied"
    assert ask_token(agent, lease["lease_id"], "public.example").status_code == 200
    tok = token(agent, lease["lease_id"], SECRETS_AUDIENCE)
    got = lease_secrets(server, tok)
    assert got.status_code == 200 and got.json()["values"] == {}
    assert "untrusted" in got.json()["refused"]["CI_TOKEN"]
    assert VALUE not in got.text
