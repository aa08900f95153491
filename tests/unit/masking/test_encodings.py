"""Every form the masker registers is what real tools print for the secret."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse

import pytest

from stockade.masking import Encoding
from stockade.masking.encodings import base64_forms, forms, raw_forms

from .conftest import SECRET


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("suffix", [b"", b"x", b"xy", b"and more"])
def test_stable_base64_part_is_inside_every_encoding(offset: int, suffix: bytes) -> None:
    data = SECRET.encode()
    encoded = base64.b64encode(b"p" * offset + data + suffix).decode()
    stable = dict((label, form) for form, label in base64_forms(data))
    assert stable[f"base64 offset {offset}"] in encoded
    assert len(stable[f"base64 offset {offset}"]) >= len(data) * 4 // 3 - 3


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_value_at_the_end_is_covered_with_and_without_padding(offset: int) -> None:
    data = SECRET.encode()
    encoded = base64.b64encode(b"p" * offset + data).decode()
    found = forms(SECRET, {Encoding.BASE64})
    assert (
        any(encoded.endswith(form) and form.endswith("=") for form in found) or "=" not in encoded
    )
    assert any(encoded.rstrip("=").endswith(form) for form in found)


def test_every_encoding_of_the_value_is_registered() -> None:
    value = SECRET + ' "quoted" \\ x'
    found = forms(value, set(Encoding))
    data = value.encode()
    upper_percent = urllib.parse.quote(value, safe="")
    expected = [
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
        base64.b64encode(base64.b64encode(data)).decode(),
        data.hex(),
        data.hex().upper(),
        upper_percent,
        re.sub("%[0-9A-F]{2}", lambda found: found.group().lower(), upper_percent),
        urllib.parse.quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
    ]
    for form in expected:
        assert form in found, form


def test_json_forms_include_unicode_escapes() -> None:
    value = "pässwörd-1234"
    found = forms(value, {Encoding.JSON})
    assert json.dumps(value)[1:-1] in found  # p\u00e4ssw\u00f6rd-1234


def test_a_multi_line_value_is_registered_line_by_line() -> None:
    value = "first line of the key\nab\ncd\nthird line, long enough\nxy"
    found = raw_forms(value, join_below=16)
    assert "first line of the key" in found
    assert "third line, long enough" in found
    assert "abcdthird line, long enough" in found  # short lines joined as the log view joins them
    assert all("\n" not in form for form in found)


def test_no_form_is_shorter_than_the_minimum() -> None:
    assert all(len(form) >= 8 for form in forms("12345678", set(Encoding)))
