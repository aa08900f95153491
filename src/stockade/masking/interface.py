"""The masking subsystem's public surface: constants, findings, and its errors.

Nothing here knows about the control plane: callers hand in secret values (and canaries) and get
masked text or :class:`Finding` records back. A finding names what matched and where, never the
value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stockade.errors import InvalidInput, StockadeError

MIN_SECRET_LENGTH = 8
"""Shorter values cannot be masked without masking ordinary words too; registering one fails."""

REPLACEMENT = "***"
"""What every masked span (one per line it covers) is replaced with."""


class Encoding(StrEnum):
    """The forms of a registered value that are masked (and that the leak check looks for)."""

    RAW = "raw"
    BASE64 = "base64"  # each of the three alignments, padded and unpadded
    BASE64URL = "base64url"
    BASE64_TWICE = "base64 twice"  # base64 of the value's base64 (value at the start of it)
    HEX = "hex"  # lower and upper case
    URL = "url"  # percent-encoding (%2F and %2f) and the + for space form
    JSON = "json"  # json.dumps escaping, with and without \\u escapes of non-ASCII


ALL_ENCODINGS: frozenset[Encoding] = frozenset(Encoding)


class FindingKind(StrEnum):
    SECRET = "secret"  # noqa: S105 - a registered secret, raw or encoded
    CANARY = "canary"  # a registered canary: a value that must never appear anywhere
    TOKEN = "token"  # noqa: S105 - a known token shape (private key, JWT, cloud or forge token)


@dataclass(frozen=True)
class Finding:
    """One occurrence: what kind, which form, and where. Never the matched value."""

    kind: FindingKind
    form: str  # e.g. "base64 offset 1", "hex upper", "github token", "pem private key"
    offset: int  # character offset in the scanned text (byte offset when bytes were scanned)
    length: int  # characters (or bytes) covered
    line: int  # 1-based line number of ``offset``
    secret_index: int | None = None  # position of the secret (or canary) in the caller's list


class MaskingError(StockadeError):
    """Base of the masking subsystem's errors."""

    code = "masking_error"


class SecretTooShort(MaskingError, InvalidInput):
    """A value shorter than :data:`MIN_SECRET_LENGTH` cannot be masked reliably. Permanent."""

    code = "secret_too_short"
