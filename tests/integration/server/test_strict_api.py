"""Strict API: unknown fields are refused with a JSON code, bodies are size-limited, and every
error has the same JSON shape."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.server.harness import ProtocolAgent, ServerHandle

PEOPLE_BODIES = [
    ("/runs", {"repository": "/nowhere", "surprise": True}),
    ("/tokens", {"name": "x", "role": "viewer", "admin": True}),
    ("/agents/registration-tokens", {"pool": "trusted", "ttl_s": 60, "uses": 5}),
]


@pytest.mark.parametrize(("path", "body"), PEOPLE_BODIES)
def test_unknown_fields_in_people_bodies_are_refused(shared_server: ServerHandle, path: str, body: dict) -> None:
    with shared_server.client() as api:
        answer = api.post(path, json=body)
    assert answer.status_code == 400
    err = answer.json()
    assert err["code"] == "invalid_input" and err["status"] == 400
    assert any(e["type"] == "extra_forbidden" for e in err["errors"])


def test_unknown_fields_in_agent_bodies_are_refused(shared_server: ServerHandle) -> None:
    agent = ProtocolAgent.register(shared_server, "release")
    refused = [
        agent.post("/lease", {"wait_s": 0, "pool": "trusted"}),
        agent.post("/leases/lse_x/logs", {"chunks": [], "extra": 1}),
        agent.post("/leases/lse_x/logs", {"chunks": [{"seq": 0, "step": 0, "stream": "stdout", "ts": 0, "text": "", "x": 1}]}),
        agent.post("/leases/lse_x/complete", {"outcome": "success", "duration_s": 1, "last_seq": -1, "exit": 0}),
        agent.post("/leases/lse_x/steps", {"index": 0, "name": "s", "status": "success", "why": "?"}),
        httpx.post(shared_server.url + "/api/v1/agents/register",
                   json={"registration_token": "stkr_xxxxxxxxxxxx", "name": "n", "pool": "p", "extra": 1}),
    ]
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "invalid_input"


def test_wrong_types_name_the_field(shared_server: ServerHandle) -> None:
    with shared_server.client() as api:
        answer = api.post("/runs", json={"repository": 5, "priority": "high"})
    assert answer.status_code == 400
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"repository", "priority"} <= fields


def test_malformed_json_is_refused(shared_server: ServerHandle) -> None:
    with shared_server.client() as api:
        answer = api.post("/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_input"


def test_bodies_over_the_limit_are_refused(shared_server: ServerHandle) -> None:
    big = b'{"repository": "' + b"x" * 70_000 + b'"}'
    with shared_server.client() as api:
        declared = api.post("/runs", content=big, headers={"content-type": "application/json"})

        def chunks():  # no Content-Length: the limit must hold on the streamed bytes too
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192]

        streamed = api.post("/runs", content=chunks(), headers={"content-type": "application/json"})
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json()["code"] == "body_too_large"


def test_unknown_routes_and_methods_answer_json(shared_server: ServerHandle) -> None:
    with shared_server.client() as api:
        missing = api.get("/nothing-here")
        wrong = api.delete("/runs")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
