"""Host spellings: every way of writing an address is recognised as that address."""

from __future__ import annotations

import ipaddress

import pytest

from stockade.egress.hosts import HostError, normalize_host, parse_ip, split_authority


@pytest.mark.parametrize(("spelling", "address"), [
    ("169.254.169.254", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("0XA9FEA9FE", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("169.254.43518", "169.254.169.254"),
    ("127.1", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("0.0.0.0", "0.0.0.0"),
    ("10.0.0.1", "10.0.0.1"),
    ("10.0.0.1.", "10.0.0.1"),
    ("[::1]", "::1"),
    ("[0:0:0:0:0:0:0:1]", "::1"),
    ("[::ffff:127.0.0.1]", "127.0.0.1"),
    ("[::ffff:7f00:1]", "127.0.0.1"),
    ("[::ffff:169.254.169.254]", "169.254.169.254"),
    ("[FE80::1]", "fe80::1"),
])
def test_every_spelling_of_an_address_is_that_address(spelling: str, address: str) -> None:
    host = normalize_host(spelling)
    assert host.ip == ipaddress.ip_address(address)
    assert host.name == address


@pytest.mark.parametrize("name", ["PyPI.org", "pypi.org.", "pypi.ORG"])
def test_names_compare_lowercase_without_trailing_dot(name: str) -> None:
    assert normalize_host(name).name == "pypi.org"
    assert normalize_host(name).ip is None


def test_internationalised_names_use_their_ascii_form() -> None:
    assert normalize_host("bücher.example").name == "xn--bcher-kva.example"
    assert normalize_host("xn--bcher-kva.example").name == "xn--bcher-kva.example"


@pytest.mark.parametrize("bad", [
    "", ".", "a..b", "-a.example", "a b.example", "1.2.3.4.5", "example.0x10", "host.123",
    "[::1", "::1", "[fe80::1%eth0]", "[1.2.3.4]", "a" * 64 + ".example", "exa\x00mple.com",
    "127.0.0.1 evil.example",
])
def test_unreadable_hosts_are_refused(bad: str) -> None:
    with pytest.raises(HostError):
        normalize_host(bad)


def test_parse_ip_ignores_names_that_look_hex() -> None:
    assert parse_ip("cafe.fade") is None
    assert parse_ip("deadbeef") is None
    assert normalize_host("cafe.fade").ip is None


@pytest.mark.parametrize(("text", "default", "expected"), [
    ("pypi.org:443", None, ("pypi.org", 443)),
    ("pypi.org", 80, ("pypi.org", 80)),
    ("[::1]:8080", None, ("[::1]", 8080)),
    ("[::1]", 80, ("[::1]", 80)),
])
def test_split_authority(text: str, default: int | None, expected: tuple[str, int]) -> None:
    assert split_authority(text, default) == expected


@pytest.mark.parametrize("bad", [
    "pypi.org", "pypi.org:", "pypi.org:0", "pypi.org:65536", "pypi.org:+1", "pypi.org: 1",
    "::1:80", "[::1]x", "[::1",
])
def test_bad_authorities_are_refused(bad: str) -> None:
    with pytest.raises(HostError):
        split_authority(bad, None)
