"""Claims, sub forms, minting and verification: only the published key with its own alg."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from stockade.identity import (
    InvalidToken,
    JobIdentity,
    build_claims,
    derived_repository_id,
    generate,
    mint,
    public_jwk,
    ref_type,
    subject,
    verify,
)
from stockade.identity.audience import audience_refusal
from stockade.identity.revocation import Revocation, revoked_by

ISS = "https://ci.example.com"


def identity(**changes: object) -> JobIdentity:
    base: dict[str, object] = dict(
        repository="acme/app", ref="refs/heads/main", sha="a" * 40, event_name="push",
        run_id="run_1", run_attempt=2, job="build", job_id="job_1", tier="trusted",
        pool="trusted", runner_id="agt_1")
    return JobIdentity(**(base | changes))  # type: ignore[arg-type]


def test_subject_precedence_environment_then_pull_request_then_ref() -> None:
    assert subject(identity()) == "repo:acme/app:ref:refs/heads/main"
    assert subject(identity(event_name="pull_request")) == "repo:acme/app:pull_request"
    assert subject(identity(event_name="pull_request", environment="prod")) == \
        "repo:acme/app:environment:prod"
    assert subject(identity(event_name="manual", ref="refs/tags/v1")) == \
        "repo:acme/app:ref:refs/tags/v1"


def test_claims_have_every_field_and_a_capped_lifetime() -> None:
    claims = build_claims(identity(), issuer=ISS, audience="sts.amazonaws.com", now=1000.5,
                          lifetime_s=3600, jti="jti_x")
    assert claims["iat"] == claims["nbf"] == 1000 and claims["exp"] == 1600
    assert claims["run_attempt"] == "2" and claims["repository_owner"] == "acme"
    assert claims["repository_id"] == derived_repository_id("acme/app")
    assert claims["repository_id"] == derived_repository_id("acme/app") != \
        derived_repository_id("acme/other")
    assert claims["pipeline_path"] == ".stockade.yml" and claims["image_digest"] is None
    assert ref_type("refs/tags/v1") == "tag" and ref_type("refs/pull/1/head") == "pull_request"


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_mint_then_verify(alg: str) -> None:
    key = generate(alg)
    keys = {key.kid: public_jwk(key)}
    claims = build_claims(identity(), issuer=ISS, audience="aud", now=time.time(),
                          lifetime_s=60, jti="j")
    tok = mint(key, claims)
    assert verify(tok, keys, issuer=ISS, audience="aud")["job_id"] == "job_1"
    for wrong in ({"issuer": "https://other"}, {"audience": "other"}):
        with pytest.raises(InvalidToken):
            verify(tok, keys, **({"issuer": ISS, "audience": "aud"} | wrong))
    other = generate(alg)
    with pytest.raises(InvalidToken, match="does not publish"):
        verify(tok, {other.kid: public_jwk(other)}, issuer=ISS, audience="aud")


def test_expired_alg_none_and_key_confusion_are_refused() -> None:
    key = generate("ES256")
    jwk = public_jwk(key)
    keys = {key.kid: jwk}
    old = build_claims(identity(), issuer=ISS, audience="aud", now=time.time() - 120,
                       lifetime_s=60, jti="j")
    with pytest.raises(InvalidToken, match="expired"):
        verify(mint(key, old), keys, issuer=ISS, audience="aud")
    claims = build_claims(identity(), issuer=ISS, audience="aud", now=time.time(),
                          lifetime_s=60, jti="j")

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = b64(json.dumps(claims).encode())
    none = b64(json.dumps({"alg": "none", "kid": key.kid}).encode())
    with pytest.raises(InvalidToken):
        verify(f"{none}.{body}.", keys, issuer=ISS, audience="aud")
    head = b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    secret = json.dumps(jwk).encode()
    mac = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken, match="algorithm"):
        verify(f"{head}.{body}.{mac}", keys, issuer=ISS, audience="aud")
    with pytest.raises(InvalidToken):
        verify(jwt.encode(claims, "k" * 32, algorithm="HS256"), keys, issuer=ISS, audience="aud")


def test_public_jwk_has_no_private_part_and_kid_is_the_thumbprint() -> None:
    key = generate("ES256")
    jwk = public_jwk(key)
    assert "d" not in jwk and jwk["use"] == "sig" and jwk["kid"] == key.kid
    assert "PRIVATE" not in repr(key)


def test_revocation_kinds() -> None:
    claims = {"jti": "j", "job_id": "job_1", "run_id": "run_1", "runner_id": "agt_1", "iat": 100}

    def rev(kind: str, value: str | None = None, after: float | None = None,
            before: float | None = None) -> Revocation:
        return Revocation("rev", kind, value, after, before, "", 0.0)

    for kind, value in (("jti", "j"), ("job", "job_1"), ("run", "run_1"), ("agent", "agt_1")):
        assert revoked_by([rev(kind, value)], claims) is not None
        assert revoked_by([rev(kind, "other")], claims) is None
    assert revoked_by([rev("window", after=50, before=150)], claims) is not None
    assert revoked_by([rev("window", after=101)], claims) is None
    assert revoked_by([rev("window", before=99)], claims) is None


def test_audiences() -> None:
    common = {"secrets_audience": "stockade:secrets", "tier": "trusted"}
    assert audience_refusal("aws", declared_id_token=True, has_secret_steps=False,
                            tier_audiences=("aws",), **common) is None
    assert audience_refusal("aws", declared_id_token=False, has_secret_steps=True,
                            tier_audiences=("aws",), **common) is not None
    assert audience_refusal("gcp", declared_id_token=True, has_secret_steps=False,
                            tier_audiences=("aws",), **common) is not None
    assert audience_refusal("stockade:secrets", declared_id_token=False,
                            has_secret_steps=True, tier_audiences=(), **common) is None
    assert audience_refusal("stockade:secrets", declared_id_token=True,
                            has_secret_steps=False, tier_audiences=(), **common) is not None
    assert audience_refusal("aws", declared_id_token=True, has_secret_steps=False,
                            tier_audiences=None, **common) is not None
