"""GitHub webhook deliveries: signature check and translation to a submission. Pure functions.

Only ``X-Hub-Signature-256`` is accepted (HMAC-SHA256 of the exact body bytes, compared in
constant time); the legacy SHA-1 header alone is refused. Payload models ignore fields they do
not use -- GitHub adds fields over time -- but every field they do use is typed and required.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockade.errors import InvalidInput, Unauthorized

SHA = r"^[0-9a-f]{40}([0-9a-f]{24})?$"
PR_ACTIONS = ("opened", "synchronize", "reopened")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Repo(_Payload):
    id: int
    full_name: str = Field(min_length=1, max_length=256)
    clone_url: str = Field(min_length=1, max_length=4096)


class User(_Payload):
    login: str = Field(default="", max_length=256)


class PushPayload(_Payload):
    ref: str = Field(pattern=r"^refs/(heads|tags)/\S+$")
    after: str
    deleted: bool = False
    repository: Repo
    sender: User = User()
    # GitHub's push events carry no author association; a payload that has one is honoured.
    author_association: str = "NONE"


class PrSide(_Payload):
    ref: str
    sha: str = Field(pattern=SHA)
    repo: Repo | None = None  # null when the fork was deleted


class PullRequest(_Payload):
    number: int
    head: PrSide
    base: PrSide
    author_association: str = "NONE"
    user: User = User()


class PullRequestPayload(_Payload):
    action: str
    number: int
    pull_request: PullRequest
    repository: Repo
    sender: User = User()


class SignatureRequired(Unauthorized):
    code = "signature_required"


class BadSignature(Unauthorized):
    code = "bad_signature"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, sig256: str | None, sig1: str | None) -> None:
    """Raise unless ``sig256`` is the HMAC-SHA256 of ``body`` under ``secret``."""
    if not sig256:
        if sig1:
            raise SignatureRequired(
                "only X-Hub-Signature (SHA-1) was sent; SHA-1 signatures are not accepted",
                hint="GitHub sends X-Hub-Signature-256 when the webhook has a secret",
            )
        raise SignatureRequired(
            "the delivery is not signed",
            hint="set the webhook's secret to the server's webhook_secret",
        )
    if not hmac.compare_digest(sign(secret, body).encode(), sig256.strip().encode()):
        raise BadSignature(
            "X-Hub-Signature-256 does not match the body",
            hint="the webhook's secret must equal the server's STOCKADE_WEBHOOK_SECRET",
        )


@dataclass(frozen=True)
class Trigger:
    """What a delivery asks to run."""

    repository: str  # clone URL
    repository_name: str  # owner/name, for policy rules
    ref: str
    sha: str
    event: str
    actor: str
    author_association: str
    fork: bool


@dataclass(frozen=True)
class Ignored:
    code: str
    message: str


def _parse(model: type[_Payload], payload: object) -> _Payload:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:5])
        raise InvalidInput(
            f"the payload lacks or mistypes: {fields}", code="invalid_payload"
        ) from exc


def translate(event: str, payload: object) -> Trigger | Ignored:
    """Map a verified delivery to what it asks to run, or say why it is ignored."""
    if event == "ping":
        return Ignored("ping", "pong")
    if event == "push":
        push = _parse(PushPayload, payload)
        assert isinstance(push, PushPayload)
        if push.deleted or set(push.after) == {"0"}:
            return Ignored("ignored_deleted_ref", f"{push.ref} was deleted; nothing to run")
        return Trigger(
            repository=push.repository.clone_url,
            repository_name=push.repository.full_name,
            ref=push.ref,
            sha=push.after,
            event="push",
            actor=push.sender.login,
            author_association=push.author_association,
            fork=False,
        )
    if event == "pull_request":
        pr = _parse(PullRequestPayload, payload)
        assert isinstance(pr, PullRequestPayload)
        if pr.action not in PR_ACTIONS:
            return Ignored("ignored_action", f"pull_request action {pr.action!r} runs nothing")
        head, base = pr.pull_request.head, pr.pull_request.base
        base_repo = base.repo or pr.repository
        fork = head.repo is None or head.repo.id != base_repo.id
        return Trigger(
            repository=pr.repository.clone_url,
            repository_name=pr.repository.full_name,
            # The PR's own ref in the base repository: a fork's branch name is chosen by its
            # author and must never match a protected ref pattern.
            ref=f"refs/pull/{pr.number}/head",
            sha=head.sha,
            event="pull_request",
            actor=pr.sender.login or pr.pull_request.user.login,
            author_association=pr.pull_request.author_association,
            fork=fork,
        )
    return Ignored("ignored_event", f"event {event!r} runs nothing")
