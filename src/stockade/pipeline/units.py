"""Strict durations and sizes, as written in pipeline and policy files.

Durations: whole numbers with the units ``h``, ``m``, ``s``, largest first, each at most once:
``90s``, ``10m``, ``1h30m``. Sizes: a whole number with a binary unit ``Ki``, ``Mi``, ``Gi``,
``Ti`` (powers of 1024): ``512Mi``, ``2Gi``. Anything else is refused rather than guessed: ``100M``
could mean 10^8 or 2^20·100, and a bare ``600`` could be seconds or minutes.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_SIZE = re.compile(r"(?P<n>\d+)(?P<unit>Ki|Mi|Gi|Ti)")
_SIZE_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
_DECIMAL_LOOKALIKE = re.compile(r"(?P<n>\d+)\s*(?P<unit>[kKmMgGtT])[bB]?")

MAX_DURATION = 7 * 24 * 3600.0  # a week: longer is a typo, not a build
MAX_SIZE = 1024**5  # 1 PiB: past any real job's memory or disk
MAX_DIGITS = 12
_DURATION_HINT = "write whole numbers with h, m, s, largest first, e.g. 90s, 10m, 1h30m"
_SIZE_HINT = "write a whole number and Ki, Mi, Gi or Ti, e.g. 512Mi or 2Gi"


class UnitError(ValueError):
    """A malformed duration or size: ``str()`` says what is wrong, ``hint`` what would be right."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``"90s"``, ``"10m"``, ``"1h30m"``); raises :class:`UnitError`."""
    if not isinstance(text, str):
        # A bare number has no unit: seconds or minutes? Refuse rather than guess.
        hint = f"write {text}s or {text}m" if _is_int(text) else _DURATION_HINT
        raise UnitError(f"a duration needs a unit, got {text!r}", hint)
    match = _DURATION.fullmatch(text)
    if not text or match is None or not any(match.groups()):
        hint = f"add a unit: {text}s or {text}m" if text.isdigit() else _DURATION_HINT
        raise UnitError(f"{text!r} is not a duration", hint)
    if any(len(g) > MAX_DIGITS for g in match.groups() if g):
        raise UnitError(f"{text!r} is too long", f"at most {format_duration(MAX_DURATION)}")
    seconds = sum(int(g) * f for g, f in zip(match.groups(), (3600, 60, 1), strict=True) if g)
    if seconds <= 0:
        raise UnitError(f"{text!r} is zero", "a duration is at least 1s")
    if seconds > MAX_DURATION:
        raise UnitError(f"{text!r} is longer than a week",
                        f"at most {format_duration(MAX_DURATION)}")
    return float(seconds)


def parse_size(text: str) -> int:
    """Bytes in ``text`` (``"512Mi"``, ``"2Gi"``); raises :class:`UnitError`."""
    if not isinstance(text, str):
        # A bare number could be bytes or megabytes; refuse rather than guess.
        raise UnitError(f"a size needs a unit, got {text!r}", _SIZE_HINT)
    match = _SIZE.fullmatch(text)
    if match is None:
        lookalike = _DECIMAL_LOOKALIKE.fullmatch(text)
        if lookalike:
            guess = f"{lookalike['n']}{lookalike['unit'].upper()}i"
            raise UnitError(f"{text!r} is ambiguous (decimal or binary?)",
                            f"sizes use binary units Ki, Mi, Gi, Ti: did you mean {guess}?")
        raise UnitError(f"{text!r} is not a size", _SIZE_HINT)
    if len(match["n"]) > MAX_DIGITS:
        raise UnitError(f"{text!r} is too large", "at most 1024Ti")
    size = int(match["n"]) * _SIZE_UNITS[match["unit"]]
    if size <= 0:
        raise UnitError(f"{text!r} is zero", "a size is at least 1Ki")
    if size > MAX_SIZE:
        raise UnitError(f"{text!r} is too large", "at most 1024Ti")
    return size


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_duration(seconds: float) -> str:
    """The shortest strict form of ``seconds``: 5400 → ``1h30m``."""
    rest = round(seconds)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs or not out else "")


def format_size(size: int) -> str:
    """The largest exact binary unit: 2147483648 → ``2Gi``; non-multiples of 1Ki as bytes."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if size % _SIZE_UNITS[unit] == 0 and size >= _SIZE_UNITS[unit]:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return f"{size}B"
