"""Durations and sizes are parsed strictly: a unit is always required, nothing is guessed."""

from __future__ import annotations

import pytest

from stockade.pipeline import format_duration, format_size, parse_duration, parse_size
from stockade.pipeline.units import UnitError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("1h0m5s", 3605),
     ("2m30s", 150), ("168h", 168 * 3600)],
)
def test_durations_accepted(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "hint_part"),
    [
        ("600", "600s or 600m"),       # no unit: seconds or minutes?
        (600, "600s or 600m"),         # a YAML number
        ("", "e.g. 90s"),
        ("-5m", "e.g. 90s"),
        ("1.5h", "e.g. 90s"),
        ("10 m", "e.g. 90s"),
        ("10M", "e.g. 90s"),           # M is not minutes
        ("1m1h", "largest first"),
        ("1h1h", "largest first"),
        ("1d", "e.g. 90s"),
        ("0s", "at least 1s"),
        ("169h", "at most 168h"),
        ("9999999999999s", "at most"),
        (True, "e.g. 90s"),
        (None, "e.g. 90s"),
    ],
)
def test_durations_refused_with_a_hint(value: object, hint_part: str) -> None:
    with pytest.raises(UnitError) as caught:
        parse_duration(value)  # type: ignore[arg-type]
    assert hint_part in caught.value.hint


@pytest.mark.parametrize(
    ("text", "size"),
    [("1Ki", 1024), ("512Mi", 512 * 1024**2), ("2Gi", 2 * 1024**3), ("1Ti", 1024**4),
     ("1536Mi", 1536 * 1024**2)],
)
def test_sizes_accepted(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "hint_part"),
    [
        ("100M", "did you mean 100Mi?"),   # decimal or binary? refused, not guessed
        ("1G", "did you mean 1Gi?"),
        ("2GB", "did you mean 2Gi?"),
        ("512mb", "did you mean 512Mi?"),
        (1024, "e.g. 512Mi"),              # bytes or megabytes?
        ("1024", "e.g. 512Mi"),
        ("1.5Gi", "e.g. 512Mi"),
        ("-1Gi", "e.g. 512Mi"),
        ("0Mi", "at least 1Ki"),
        ("2048Ti", "at most 1024Ti"),
        ("1Pi", "e.g. 512Mi"),
        ("Gi", "e.g. 512Mi"),
    ],
)
def test_sizes_refused_with_a_hint(value: object, hint_part: str) -> None:
    with pytest.raises(UnitError) as caught:
        parse_size(value)  # type: ignore[arg-type]
    assert hint_part in caught.value.hint


@pytest.mark.parametrize("text", ["90s", "10m", "1h30m", "2h", "1h0m1s"])
def test_durations_format_back_to_what_parses(text: str) -> None:
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_format_is_the_shortest_form() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_size(2 * 1024**3) == "2Gi"
    assert format_size(1536 * 1024**2) == "1536Mi"
