"""The forms a secret takes in a log: pure functions from a value to the strings to mask.

Base64 follows the approach of GitHub's runner: a value inside a larger encoded string starts at
byte offset 0, 1 or 2 of a 3-byte group, and for each offset only the *stable* characters (those
computed from the value's bytes alone) are predictable. Each alignment gives the stable inner part
and, for a value at the end of the encoded data, the inner part with its last partial character,
with and without padding.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator

from stockade.masking.interface import MIN_SECRET_LENGTH, Encoding

_PERCENT = re.compile(r"%[0-9A-F]{2}")
_SKIP = (0, 2, 3)  # leading characters of the encoding that depend on bytes before the value


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def base64_forms(data: bytes) -> Iterator[tuple[str, str]]:
    """(form, label) for ``data`` at each alignment of a larger base64 string."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        stable_end = (offset + len(data)) * 8 // 6
        inner = encoded[_SKIP[offset] :]
        yield inner[: stable_end - _SKIP[offset]], f"base64 offset {offset}"
        yield inner, f"base64 offset {offset} padded"
        yield inner.rstrip("="), f"base64 offset {offset} unpadded"


def _url_forms(value: str) -> Iterator[tuple[str, str]]:
    for form, label in (
        (urllib.parse.quote(value, safe=""), "url"),
        (urllib.parse.quote(value, safe="/"), "url"),
        (urllib.parse.quote_plus(value, safe=""), "url plus"),
    ):
        yield form, label
        yield _PERCENT.sub(lambda found: found.group().lower(), form), label + " lower"


def json_escaped(value: str) -> str:
    """``value`` inside a JSON string, as ``json.dumps`` writes it (\\u escapes for non-ASCII)."""
    return json.dumps(value)[1:-1]


def _json_forms(value: str) -> Iterator[tuple[str, str]]:
    escaped = json_escaped(value)
    yield escaped, "json"
    yield json.dumps(value, ensure_ascii=False)[1:-1], "json"
    yield escaped.replace("/", "\\/"), "json"


def forms(value: str, encodings: Iterable[Encoding]) -> dict[str, str]:
    """Every encoded form of ``value`` (form -> label), raw excepted; see :mod:`raw_forms`."""
    wanted = set(encodings)
    data = _utf8(value)
    found: dict[str, str] = {}

    def add(pairs: Iterable[tuple[str, str]]) -> None:
        for form, label in pairs:
            if len(form) >= MIN_SECRET_LENGTH and form != value:
                found.setdefault(form, label)

    standard = list(base64_forms(data))
    if Encoding.BASE64 in wanted:
        add(standard)
    if Encoding.BASE64URL in wanted:
        add(
            (form.replace("+", "-").replace("/", "_"), "base64url" + label[6:])
            for form, label in standard
        )
    if Encoding.BASE64_TWICE in wanted:
        once = {form for form, label in standard if label.startswith("base64 offset 0")}
        for form in sorted(once):
            add((twice, "base64 twice" + label[6:]) for twice, label in base64_forms(form.encode()))
    if Encoding.HEX in wanted:
        add([(data.hex(), "hex lower"), (data.hex().upper(), "hex upper")])
    if Encoding.URL in wanted:
        add(_url_forms(value))
    if Encoding.JSON in wanted:
        add(_json_forms(value))
    return found


def raw_forms(value: str, join_below: int) -> dict[str, str]:
    """The raw value as matched: whole when on one line, else line by line (form -> label).

    A multi-line value is matched per line (each line long enough), and per run of short lines
    joined the way the log view joins them (see :mod:`stockade.masking.view`).
    """
    lines = [line.rstrip("\r") for line in value.split("\n")]
    if len(lines) == 1:
        return {value: "raw"}
    found: dict[str, str] = {}
    run: list[str] = []
    for line in lines:
        if len(line) >= MIN_SECRET_LENGTH:
            found.setdefault(line, "raw line")
        run.append(line)
        if len(line) >= join_below:
            joined = "".join(run)
            if len(joined) >= MIN_SECRET_LENGTH:
                found.setdefault(joined, "raw lines")
            run = []
    joined = "".join(run)
    if len(joined) >= MIN_SECRET_LENGTH:
        found.setdefault(joined, "raw lines")
    return found
