"""Known token shapes are masked although nobody registered them; ordinary text is left alone."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable

import pytest

from stockade.masking import Masker

from .conftest import build_log, stream

Run = Callable[..., str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


JWT = ".".join(
    [
        b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()),
        b64url(json.dumps({"sub": "repo:o/n:ref:refs/heads/main", "aud": "x"}).encode()),
        b64url(bytes(range(64))),
    ]
)
TOKENS = {
    "jwt": JWT,
    "aws access key id": "AKIAZ2X7Q4PLMNB3VC5D",
    "aws sts key id": "ASIAZ2X7Q4PLMNB3VC5D",
    "github classic": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z4A",
    "github oauth": "gho_" + "x" * 36,
    "github user-to-server": "ghu_" + "Y" * 36,
    "github server-to-server": "ghs_" + "7" * 36,
    "github refresh": "ghr_" + "q" * 36,
    "github fine-grained": "github_pat_" + "11ABCDEFG0" + "x" * 72,
    "gitlab": "glpat-" + "aZ3_kLm9-pQ2rS4tU6vW",
    "slack bot": "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack user": "xoxp-1234567890-1234567890-1234567890-0123456789abcdef",
    "slack app": "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef",
}


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_token_shape_is_masked_unregistered(run: Run, name: str) -> None:
    token = TOKENS[name]
    out = run([], f"export VALUE={token}\n")
    assert token not in out and out == "export VALUE=***\n"


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_token_shape_is_masked_across_every_split(name: str) -> None:
    text = f"value: {TOKENS[name]} end\n"
    for cut in range(len(text) + 1):
        assert stream(Masker(), [text[:cut], text[cut:]]) == "value: *** end\n", cut


@pytest.mark.parametrize(
    ("printed", "kept"),
    [
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = ",
        ),
        ('"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",', '"SecretAccessKey": "'),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_SECRET_ACCESS_KEY=",
        ),
        ("> Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==", "> Authorization: Basic "),
        ("authorization: Bearer abc.def-123_456", "authorization: Bearer "),
    ],
)
def test_labelled_values_are_masked_and_labels_kept(run: Run, printed: str, kept: str) -> None:
    out = run([], printed + "\n")
    assert out.startswith(kept + "***")


def test_ordinary_build_log_passes_through_unchanged() -> None:
    rng = random.Random(7)
    log = (
        build_log(rng, 3000)
        + "Authorization required\nASIA is a continent\nBEGIN\n-----BEGIN CERTIFICATE-----\n"
    )
    assert stream(Masker(), [log]) == log
    chunks = [log[i : i + 4096] for i in range(0, len(log), 4096)]
    assert stream(Masker(["not-in-the-log-1234"]), chunks) == log
