"""Known token shapes: masked whether or not anyone registered them.

Each shape starts with a literal (its *keywords*, as gitleaks calls them); the multi-pattern scan
finds the literals, and only there is the shape's regular expression tried, so text without any
keyword costs nothing here. Definitions follow gitleaks' public rules and GitHub's token formats.
A private key block is special: it spans lines, and the masker masks it line by line until its
END line arrives (see :mod:`stockade.masking.masker`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """A token shape: its keywords, the full match, and what a token still being written is."""

    name: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]  # tried with .match() where a keyword starts
    partial: re.Pattern[str]  # fullmatch from the keyword to the end: a token not complete yet
    group: int = 0  # the group that is masked (the value, not its label)
    caseless: bool = False  # keywords match in any case


def _shape(
    name: str,
    keywords: tuple[str, ...],
    pattern: str,
    partial: str,
    *,
    group: int = 0,
    caseless: bool = False,
) -> Shape:
    return Shape(name, keywords, re.compile(pattern), re.compile(partial), group, caseless)


_B64URL = r"[A-Za-z0-9_-]"
PEM_HEADER_MAX = 140
PEM_FOOTER_MAX = 140  # "-----END " + a label + "PRIVATE KEY BLOCK-----"

PEM = _shape(
    "private key",
    ("-----BEGIN",),
    r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    rf"-----BEGIN[ A-Z0-9_-]{{0,{PEM_HEADER_MAX}}}",
)
PEM_FOOTER = re.compile(r"-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")

SHAPES: tuple[Shape, ...] = (
    PEM,
    _shape(
        "jwt",
        ("eyJ",),
        rf"eyJ{_B64URL}{{8,}}\.eyJ{_B64URL}{{8,}}\.{_B64URL}*",
        r"eyJ[A-Za-z0-9_.-]{0,8192}",
    ),
    _shape(
        "aws access key id",
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        r"(?<![A-Z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Z0-9])",
        r"(?<![A-Z0-9])A[A-Z0-9]{0,19}",
    ),
    _shape(
        "aws secret access key",
        ("aws_secret_access_key", "secretaccesskey", "aws_secret_key"),
        r"(?i:aws_secret_access_key|secretaccesskey|aws_secret_key)[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        r"(?i:aws_secret_access_key|secretaccesskey|aws_secret_key)[\"']?[ \t]*[:=]?[ \t]*[\"']?"
        r"[A-Za-z0-9/+]{0,40}",
        group=1,
        caseless=True,
    ),
    _shape(
        "github token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        r"gh[pousr]_[A-Za-z0-9]{36}",
        r"gh[pousr]_[A-Za-z0-9]{0,36}",
    ),
    _shape(
        "github fine-grained token",
        ("github_pat_",),
        r"github_pat_\w{82}",
        r"github_pat_\w{0,82}",
    ),
    _shape("gitlab token", ("glpat-",), r"glpat-[\w-]{20,}", r"glpat-[\w-]{0,64}"),
    _shape(
        "slack token",
        ("xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-"),
        r"(?:xox[bpares]|xapp)-[A-Za-z0-9-]{10,}",
        r"(?:xox[bpares]|xapp)-[A-Za-z0-9-]{0,256}",
    ),
    _shape(
        "authorization header",
        ("authorization",),
        r"(?i:authorization)[\"']?[ \t]*[:=][ \t]*[\"']?(?i:basic|bearer)[ \t]+"
        r"([A-Za-z0-9+/._~-]{8,}=*)",
        r"(?i:authorization)[\"']?[ \t]*[:=]?[ \t]*[\"']?(?i:b[a-z]{0,5})?[ \t]*"
        r"[A-Za-z0-9+/._~-]{0,4096}=*",
        group=1,
        caseless=True,
    ),
)
