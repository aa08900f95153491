"""Masking secrets in job logs, and scanning outputs and artifacts for them.

Public surface:

- :class:`Masker` -- a streaming masker for one log: ``feed(text) -> str``, ``flush() -> str``,
  or line-structured ``mask_lines(lines) -> list[str]`` / ``flush_lines()``; ``add(secret)``
  registers a value leased mid-job; ``mask(text)`` masks a whole text at once.
- :func:`scan` -- findings (what kind, which form, where; never the value) of registered values
  and known token shapes in bytes or text: for artifacts and step outputs.
- :class:`LeakDetector` -- the fail-closed check on masked text: any registered secret or canary
  still present, in any form, is a finding; the caller stops the job and holds the log.
- :class:`Finding`, :class:`FindingKind`, :class:`Encoding`, :data:`ALL_ENCODINGS`,
  :data:`MIN_SECRET_LENGTH`, :data:`REPLACEMENT`, :func:`check_secret`, and the errors
  :class:`MaskingError` and :class:`SecretTooShort`.

The package imports nothing of Stockade but :mod:`stockade.errors`. See docs/masking.md.
"""

from __future__ import annotations

from stockade.masking.detect import check_secret
from stockade.masking.interface import (
    ALL_ENCODINGS,
    MIN_SECRET_LENGTH,
    REPLACEMENT,
    Encoding,
    Finding,
    FindingKind,
    MaskingError,
    SecretTooShort,
)
from stockade.masking.masker import Masker
from stockade.masking.scanner import LeakDetector, scan
from stockade.masking.view import JOIN_BELOW

__all__ = [
    "ALL_ENCODINGS",
    "JOIN_BELOW",
    "MIN_SECRET_LENGTH",
    "REPLACEMENT",
    "Encoding",
    "Finding",
    "FindingKind",
    "LeakDetector",
    "Masker",
    "MaskingError",
    "SecretTooShort",
    "check_secret",
    "scan",
]
