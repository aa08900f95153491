"""Strict parsers for the sizes and durations a user types: ``512Mi``, ``2Gi``, ``90s``, ``10m``.

Strict on purpose: ``512M`` (decimal or binary?) and ``1.5.0s`` are refused with a hint rather
than guessed, because a wrong limit is a silent security or reliability bug.
"""

from __future__ import annotations

import re

from stockade.errors import InvalidInput

_SIZE_UNITS = {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
               "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")


def parse_size(text: str) -> int:
    """Bytes from ``512Mi``/``2Gi`` (binary), ``500M`` (decimal) or a plain byte count."""
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise InvalidInput(f"not a size: {text!r}", hint="write e.g. 512Mi, 2Gi or 1048576")
    value = float(match.group(1)) * _SIZE_UNITS[match.group(2) or ""]
    if value < 1 or value != int(value):
        raise InvalidInput(f"size must be a whole number of bytes >= 1: {text!r}",
                           hint="write e.g. 512Mi")
    return int(value)


def parse_duration(text: str) -> float:
    """Seconds from ``90s``, ``10m``, ``1.5h`` or ``250ms``; a unit is required."""
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise InvalidInput(f"not a duration: {text!r}", hint="write e.g. 30s, 10m or 1h")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise InvalidInput(f"duration must be positive: {text!r}", hint="write e.g. 30s")
    return seconds


def format_size(n: int) -> str:
    """The shortest exact binary spelling of a byte count (``536870912`` -> ``512Mi``)."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if n % _SIZE_UNITS[unit] == 0:
            return f"{n // _SIZE_UNITS[unit]}{unit}"
    return str(n)
