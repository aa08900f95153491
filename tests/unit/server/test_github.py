"""GitHub deliveries: signature rules and translation into what to run."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from stockade.errors import InvalidInput
from stockade.server.github import (
    BadSignature,
    Ignored,
    SignatureRequired,
    Trigger,
    sign,
    translate,
    verify_signature,
)

BODY = b'{"zen": "hi"}'
SHA = "b" * 40


def repo(repo_id: int = 1) -> dict:
    return {"id": repo_id, "full_name": "acme/app", "clone_url": "https://example.test/acme/app.git"}


def test_the_signature_is_github_s_sha256_hmac() -> None:
    expected = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", BODY) == expected
    verify_signature("s3cret", BODY, expected, None)


def test_sha1_alone_unsigned_and_wrong_signatures_are_refused() -> None:
    with pytest.raises(SignatureRequired, match="SHA-1"):
        verify_signature("s", BODY, None, "sha1=abc")
    with pytest.raises(SignatureRequired):
        verify_signature("s", BODY, "", None)
    with pytest.raises(BadSignature):
        verify_signature("s", BODY, sign("other", BODY), None)
    with pytest.raises(BadSignature):
        verify_signature("s", BODY + b" ", sign("s", BODY), None)


def test_a_push_maps_to_its_ref_sha_and_pusher() -> None:
    got = translate("push", {"ref": "refs/tags/v1", "after": SHA, "repository": repo(), "sender": {"login": "octo"}})
    assert got == Trigger("https://example.test/acme/app.git", "acme/app", "refs/tags/v1", SHA, "push", "octo", "NONE", False)


def test_a_deleted_ref_runs_nothing() -> None:
    got = translate("push", {"ref": "refs/heads/x", "after": "0" * 40, "deleted": True, "repository": repo()})
    assert isinstance(got, Ignored) and got.code == "ignored_deleted_ref"


@pytest.mark.parametrize(("head", "fork"), [(repo(1), False), (repo(2), True), (None, True)])
def test_fork_is_a_different_or_missing_head_repository(head: dict | None, fork: bool) -> None:
    payload = {
        "action": "opened", "number": 3, "repository": repo(1), "sender": {"login": "c"},
        "pull_request": {"number": 3, "author_association": "CONTRIBUTOR",
                         "head": {"ref": "main", "sha": SHA, "repo": head},
                         "base": {"ref": "main", "sha": SHA, "repo": repo(1)}},
    }
    got = translate("pull_request", payload)
    assert isinstance(got, Trigger)
    assert (got.fork, got.ref, got.author_association) == (fork, "refs/pull/3/head", "CONTRIBUTOR")


def test_payloads_lacking_fields_are_invalid() -> None:
    with pytest.raises(InvalidInput) as err:
        translate("push", {"ref": "refs/heads/main"})
    assert err.value.code == "invalid_payload"
