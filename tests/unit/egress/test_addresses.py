"""The default address deny list, the caller's refusals, and the operator's allowances."""

from __future__ import annotations

import ipaddress

import pytest

from stockade.egress.addresses import DEFAULT_DENY, check_address, deny_range

ip = ipaddress.ip_address


@pytest.mark.parametrize(("address", "name"), [
    ("127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"),
    ("10.0.0.1", "private-use"),
    ("172.16.5.4", "private-use"),
    ("192.168.1.1", "private-use"),
    ("100.64.0.1", "shared address space"),
    ("0.0.0.0", "this host on this network"),
    ("0.1.2.3", "this network"),
    ("192.0.0.8", "dummy"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fd00::1", "unique-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001::1", "Teredo"),
    ("2002:a9fe:a9fe::1", "6to4"),
    ("100::1", "discard-only"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of the metadata address
    ("4000::1", "outside IPv6 global unicast"),
])
def test_special_purpose_addresses_are_refused(address: str, name: str) -> None:
    refusal = check_address(ip(address))
    assert refusal is not None
    assert name in refusal.range.name
    assert refusal.range.source  # every entry names where it comes from
    assert not refusal.by_caller


@pytest.mark.parametrize("address", ["93.184.215.14", "151.101.0.223", "2a04:4e42::223",
                                     "64:ff9b::5db8:d70e"])
def test_global_addresses_pass(address: str) -> None:
    assert check_address(ip(address)) is None


def test_every_default_entry_cites_a_source() -> None:
    assert all(entry.source.startswith("RFC") for entry in DEFAULT_DENY)


def test_allow_cidrs_override_the_default_list() -> None:
    allow = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("203.0.113.0/24"))
    assert check_address(ip("127.0.0.1"), allow_cidrs=allow) is None
    assert check_address(ip("::ffff:127.0.0.1"), allow_cidrs=allow) is None
    assert check_address(ip("203.0.113.5"), allow_cidrs=allow) is None
    assert check_address(ip("127.0.0.2"), allow_cidrs=allow) is not None


def test_the_callers_refusals_win_over_allow_cidrs() -> None:
    server = deny_range("127.0.0.5/32", "the Stockade server")
    refusal = check_address(ip("127.0.0.5"), allow_cidrs=(ipaddress.ip_network("127.0.0.0/8"),),
                            deny_ranges=(server,))
    assert refusal is not None and refusal.by_caller
    assert "Stockade server" in refusal.describe()
    refusal = check_address(ip("::ffff:127.0.0.5"), deny_ranges=(server,))
    assert refusal is not None and refusal.by_caller
