"""GitHub webhooks: signed push and pull_request deliveries start runs classified by the server's
policy; bad deliveries get a 4xx with a code and store nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.server.harness import ServerHandle, commit, make_repo, pipeline_yaml

SECRET = "test-webhook-secret"  # the shared_server fixture's webhook_secret


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    server: ServerHandle,
    event: str,
    payload: object,
    *,
    body: bytes | None = None,
    delivery: str | None = None,
    headers: dict[str, str] | None = None,
    signed: bool = True,
) -> httpx.Response:
    raw = body if body is not None else json.dumps(payload).encode()
    sent = {
        "content-type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
    }
    if signed:
        sent["X-Hub-Signature-256"] = sign(raw)
    sent.update(headers or {})
    return httpx.post(server.url + "/api/v1/webhooks/github", content=raw, headers=sent)


def repo_json(path: Path, repo_id: int = 1, name: str = "acme/app") -> dict:
    return {"id": repo_id, "full_name": name, "clone_url": f"file://{path}"}


def push(path: Path, sha: str, ref: str = "refs/heads/main", **extra: object) -> dict:
    return {"ref": ref, "before": "0" * 40, "after": sha, "deleted": False,
            "repository": repo_json(path), "pusher": {"name": "octocat"}, "sender": {"login": "octocat"}, **extra}


def pull_request(path: Path, sha: str, *, head_repo: dict | None, action: str = "opened",
                 association: str = "MEMBER") -> dict:
    base = repo_json(path)
    return {
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "author_association": association,
            "user": {"login": "contributor"},
            "head": {"ref": "main", "sha": sha, "repo": head_repo},
            "base": {"ref": "main", "sha": sha, "repo": base},
        },
        "repository": base,
        "sender": {"login": "contributor"},
    }


def runs_count(server: ServerHandle) -> int:
    with server.client() as api:
        return len(api.get("/runs", params={"limit": 500}).json()["runs"])


def run_of(server: ServerHandle, answer: httpx.Response) -> dict:
    assert answer.status_code == 201, answer.text
    with server.client() as api:
        return api.get(f"/runs/{answer.json()['run_id']}").json()


@pytest.fixture(scope="module")
def gitrepo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return make_repo(tmp_path_factory.mktemp("wh") / "app", pipeline_yaml({"build": []}))


def test_a_branch_push_runs_trusted(shared_server: ServerHandle, gitrepo: tuple[Path, str]) -> None:
    path, sha = gitrepo
    run = run_of(shared_server, deliver(shared_server, "push", push(path, sha)))
    assert (run["event"], run["ref"], run["sha"], run["actor"]) == ("push", "refs/heads/main", sha, "octocat")
    assert (run["tier"], run["rule"], run["status"]) == ("trusted", "project-branches", "queued")
    assert run["repository"] == f"file://{path}"


def test_a_release_tag_waits_for_approval_by_someone_else(shared_server: ServerHandle, gitrepo: tuple[Path, str]) -> None:
    path, sha = gitrepo
    run = run_of(shared_server, deliver(shared_server, "push", push(path, sha, ref="refs/tags/v1.0")))
    assert (run["tier"], run["pool"], run["status"]) == ("release", "release", "awaiting_approval")
    assert [j["status"] for j in run["jobs"]] == ["pending"]
    author = shared_server.token("maintainer", name="octocat")
    with shared_server.client(author) as api:
        own = api.post(f"/runs/{run['id']}/approve")
    assert own.status_code == 403 and own.json()["code"] == "self_approval"
    with shared_server.client() as api:
        approved = api.post(f"/runs/{run['id']}/approve").json()
        again = api.post(f"/runs/{run['id']}/approve")
    assert approved["approved_by"] == "admin" and approved["status"] == "queued"
    assert [j["status"] for j in approved["jobs"]] == ["queued"]
    assert again.status_code == 409 and again.json()["code"] == "not_awaiting_approval"


def test_a_fork_pull_request_runs_untrusted(shared_server: ServerHandle, gitrepo: tuple[Path, str]) -> None:
    path, sha = gitrepo
    fork = repo_json(path, repo_id=99, name="mallory/app")
    run = run_of(shared_server, deliver(shared_server, "pull_request", pull_request(path, sha, head_repo=fork, association="OWNER")))
    assert (run["fork"], run["tier"], run["ref"]) == (True, "untrusted", "refs/pull/7/head")
    gone = run_of(shared_server, deliver(shared_server, "pull_request", pull_request(path, sha, head_repo=None)))
    assert (gone["fork"], gone["tier"]) == (True, "untrusted")


def test_a_member_pull_request_from_the_same_repository_runs_trusted(
    shared_server: ServerHandle, gitrepo: tuple[Path, str]
) -> None:
    path, sha = gitrepo
    same = run_of(shared_server, deliver(shared_server, "pull_request", pull_request(path, sha, head_repo=repo_json(path), action="synchronize")))
    assert (same["fork"], same["tier"]) == (False, "trusted")
    outsider = run_of(shared_server, deliver(shared_server, "pull_request",
                                             pull_request(path, sha, head_repo=repo_json(path), association="NONE")))
    assert outsider["tier"] == "untrusted"


def test_the_pipeline_is_read_at_the_pushed_commit(shared_server: ServerHandle, tmp_path: Path) -> None:
    path, first = make_repo(tmp_path / "app2", pipeline_yaml({"first": []}))
    commit(path, pipeline_yaml({"second": []}))
    run = run_of(shared_server, deliver(shared_server, "push", push(path, first)))
    assert [j["name"] for j in run["jobs"]] == ["first"]


@pytest.mark.parametrize(
    ("event", "make", "code"),
    [
        ("push", lambda p, s: push(p, s, deleted=True, after="0" * 40), "ignored_deleted_ref"),
        ("pull_request", lambda p, s: pull_request(p, s, head_repo=None, action="closed"), "ignored_action"),
        ("ping", lambda p, s: {"zen": "Keep it logically awesome.", "hook_id": 1}, "ping"),
        ("issues", lambda p, s: {"action": "opened"}, "ignored_event"),
    ],
)
def test_deliveries_that_run_nothing_are_acknowledged(
    shared_server: ServerHandle, gitrepo: tuple[Path, str], event: str, make, code: str
) -> None:
    path, sha = gitrepo
    before = runs_count(shared_server)
    answer = deliver(shared_server, event, make(path, sha))
    assert answer.status_code == 202 and answer.json()["code"] == code
    assert runs_count(shared_server) == before


def test_bad_deliveries_are_refused_and_store_nothing(shared_server: ServerHandle, gitrepo: tuple[Path, str]) -> None:
    path, sha = gitrepo
    good = push(path, sha)
    raw = json.dumps(good).encode()
    replayed_id = str(uuid.uuid4())
    assert deliver(shared_server, "push", good, delivery=replayed_id).status_code == 201
    before = runs_count(shared_server)
    cases = {
        "malformed": (deliver(shared_server, "push", None, body=b"{not json"), 400, "malformed_payload"),
        "missing fields": (deliver(shared_server, "push", {"ref": "refs/heads/main"}), 400, "invalid_payload"),
        "oversized": (deliver(shared_server, "push", None, body=b" " * 70_000 + raw), 413, "body_too_large"),
        "unsigned": (deliver(shared_server, "push", good, signed=False), 401, "signature_required"),
        "sha1 only": (
            deliver(shared_server, "push", good, signed=False,
                    headers={"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), raw, hashlib.sha1).hexdigest()}),
            401, "signature_required",
        ),
        "wrong secret": (
            deliver(shared_server, "push", good, headers={"X-Hub-Signature-256": sign(raw, "not-the-secret")}),
            401, "bad_signature",
        ),
        "tampered": (
            deliver(shared_server, "push", None, body=raw.replace(b"octocat", b"mallory"),
                    headers={"X-Hub-Signature-256": sign(raw)}),
            401, "bad_signature",
        ),
        "replayed": (deliver(shared_server, "push", good, delivery=replayed_id), 409, "replayed_delivery"),
        "no delivery id": (deliver(shared_server, "push", good, headers={"X-GitHub-Delivery": ""}), 400, "missing_headers"),
        "unknown commit": (deliver(shared_server, "push", push(path, "1" * 40)), 400, "unknown_revision"),
    }
    for name, (answer, status, code) in cases.items():
        assert answer.status_code == status, f"{name}: {answer.text}"
        assert answer.json()["code"] == code, name
    assert runs_count(shared_server) == before


def test_webhooks_fail_closed_without_a_secret(server: ServerHandle, tmp_path: Path) -> None:
    path, sha = make_repo(tmp_path / "r", pipeline_yaml({"a": []}))
    answer = deliver(server, "push", push(path, sha))
    assert answer.status_code == 503 and answer.json()["code"] == "webhooks_disabled"
    assert runs_count(server) == 0
