"""Identity and secrets through the real agent and server: a job's ID token from
stockade.internal verifies against the issuer's discovery document alone, a secret reaches the
one step that declared it, no form of it reaches the stored log, and the untrusted tier is
granted nothing, with the log saying so."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from stockade.policy import default_policy_path
from tests.integration.agent.harness import (
    job_lines,
    registration_token,
    start_agent,
    submit,
    wait_run_final,
)
from tests.integration.server.harness import ServerHandle, make_repo

pytestmark = [pytest.mark.root]

SECRET = "dEpl0y-key/With+Odd=Chars_1234"
AUDIENCE = "sts.example.com"


def _policy(tmp_path: Path) -> Path:
    text = default_policy_path().read_text()
    trusted = ("    egress: [pypi.org, files.pythonhosted.org, deb.debian.org]\n"
               "    secret_classes: []\n    token_audiences: []\n\n  # Release")
    assert trusted in text
    text = text.replace(trusted, (
        "    egress: [pypi.org, files.pythonhosted.org, deb.debian.org]\n"
        f"    secret_classes: [deploy]\n    token_audiences: [{AUDIENCE}]\n\n  # Release"), 1)
    text = text.replace("secret_grants: []", "secret_grants:\n  - {class: deploy, tiers: [trusted]}")
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return path


PIPELINE = r"""
version: 1
jobs:
  deploy:
    id-token: true
    steps:
      - name: before
        run: env | grep -c DEPLOY_KEY || true
      - name: use
        secrets: [DEPLOY_KEY]
        run: |
          test -n "$DEPLOY_KEY" && echo has-secret
          echo "raw $DEPLOY_KEY"
          printf '%s' "$DEPLOY_KEY" | base64 -w0; echo
          printf 'x%s' "$DEPLOY_KEY" | base64 -w0; echo
          printf 'xy%s' "$DEPLOY_KEY" | base64 -w0; echo
          printf '%s' "$DEPLOY_KEY" | od -An -tx1 | tr -d ' \n'; echo
          echo "$DEPLOY_KEY" | fold -w1
          set -x; : "$DEPLOY_KEY"; set +x
      - name: after
        run: |
          env | grep -c DEPLOY_KEY || true
          cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -c DEPLOY_KEY || true
      - name: token
        run: |
          url="$STOCKADE_ID_TOKEN_REQUEST_URL?audience=sts.example.com"
          curl -fsS -H "Authorization: Bearer $STOCKADE_ID_TOKEN_REQUEST_TOKEN" "$url" > /tmp/t.json
          # Reversed, so the log's JWT masking leaves it for the test to verify.
          python3 -c 'import json; print("REVERSED", json.load(open("/tmp/t.json"))["value"][::-1])'
          curl -s -o /dev/null -w "other=%{http_code}\n" \
            -H "Authorization: Bearer $STOCKADE_ID_TOKEN_REQUEST_TOKEN" \
            "$STOCKADE_ID_TOKEN_REQUEST_URL?audience=evil.example"
          curl -s -o /dev/null -w "nobearer=%{http_code}\n" "$url"
  fork:
    tier: untrusted
    steps:
      - name: wants
        secrets: [DEPLOY_KEY]
        run: echo "got [${DEPLOY_KEY:-nothing}]"
"""


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), base64.b64encode(b"x" + raw).decode(),
            base64.b64encode(b"xy" + raw).decode(), raw.hex()]


def test_tokens_verify_from_discovery_and_secrets_reach_one_step_only(
    server_factory: Callable[..., ServerHandle], image_store: object, tmp_path: Path,
) -> None:
    server = server_factory(policy_file=_policy(tmp_path))
    with server.client() as api:
        made = api.put("/secrets/DEPLOY_KEY", json={"value": SECRET, "class": "deploy"})
        assert made.status_code in (200, 201, 204), made.text
    repo, sha = make_repo(tmp_path / "repo", PIPELINE)
    agents = [start_agent(server, pool, tmp_path / f"agent-{pool}", name=f"agent-{pool}",
                          token=registration_token(server, pool))
              for pool in ("trusted", "untrusted")]
    try:
        run = submit(server, repo, sha)
        final = wait_run_final(server, run["id"], timeout_s=180)
    finally:
        for agent in agents:
            assert agent.terminate() == 0
    jobs = {job["name"]: job for job in final["jobs"]}
    said = [line["text"] for line in job_lines(server, jobs["deploy"]["id"])]
    everything = "\n".join(said)
    assert jobs["deploy"]["status"] == "success", everything
    assert "has-secret" in said
    for form in _forms(SECRET):
        assert form not in everything
    assert SECRET not in "".join(said)  # the one-character-per-line print
    before = said.index("has-secret")
    assert said[:before].count("0") >= 1  # step 1 saw no DEPLOY_KEY
    after = said[before:]
    assert after.count("0") >= 2  # step 3: not in its env, not in any process's environ
    assert "other=403" in said and "nobearer=401" in said
    assert any("id-token for audience 'evil.example' refused" in line for line in said)

    reversed_token = next(line for line in said if line.startswith("REVERSED "))
    token = reversed_token.removeprefix("REVERSED ")[::-1]
    discovery = httpx.get(server.url + "/.well-known/openid-configuration").json()
    key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=discovery[
        "id_token_signing_alg_values_supported"], audience=AUDIENCE, issuer=discovery["issuer"])
    assert claims["sha"] == sha and claims["job"] == "deploy" and claims["tier"] == "trusted"
    assert claims["sub"].startswith("repo:") and claims["exp"] - claims["iat"] <= 600
    replay = httpx.post(server.url + "/api/v1/secrets/lease",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"step": 1, "names": ["DEPLOY_KEY"]})
    assert replay.status_code == 401  # another audience, and its job is over

    fork = [line["text"] for line in job_lines(server, jobs["fork"]["id"])]
    assert "got [nothing]" in fork, fork
    assert any("untrusted tier is granted no secrets" in line for line in fork)
    assert SECRET not in json.dumps(fork)
