from __future__ import annotations

import pytest

from stockade.errors import InvalidInput
from stockade.sandbox.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("512Mi", 512 * 1024**2), ("2Gi", 2 * 1024**3), ("1Ki", 1024), ("1Ti", 1024**4),
    ("500M", 500_000_000), ("1G", 10**9), ("4096", 4096), ("1.5Gi", 3 * 512 * 1024**2),
    (" 64Mi ", 64 * 1024**2),
])
def test_sizes_parse(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "Mi", "512mi", "512 Mi", "-1Mi", "0", "1.5", "1e3", "12MB",
                                  "0.1Ki", "5Pi"])
def test_bad_sizes_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_size(text)
    assert "512Mi" in exc.value.hint


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("250ms", 0.25), ("1.5m", 90.0),
])
def test_durations_parse(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "0s", "10 m", "1d", "-5s", "s", "1m30s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)


def test_format_size_round_trips() -> None:
    for text in ("512Mi", "2Gi", "1Ki", "1000"):
        assert format_size(parse_size(text)) == text
