"""Which addresses a job may never reach, as data with its sources, and the check itself.

The default deny list is every block of the IANA IPv4 and IPv6 Special-Purpose Address
Registries that is not globally reachable (RFC 6890 and its updates), plus multicast and the
IPv6 space outside global unicast. Blocks the registries mark globally reachable but that a
build never needs (anycast PCP/TURN, AS112, AMT, ORCHIDv2) are denied with their covering
block: failing closed costs nothing there. IPv4-mapped IPv6 (``::ffff:a.b.c.d``) is checked as
its IPv4 address, and the NAT64 well-known prefix ``64:ff9b::/96`` by the IPv4 address it embeds.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class AddressRange:
    """A block of addresses, what it is, and where that is written down."""

    network: IPNetwork
    name: str
    source: str  # an RFC, a registry, or who configured it ("caller")

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPAddress) and address in self.network  # type: ignore[operator]


def _r(cidr: str, name: str, source: str) -> AddressRange:
    return AddressRange(ipaddress.ip_network(cidr), name, source)


def deny_range(cidr: str, name: str) -> AddressRange:
    """A caller's extra refusal (``deny_range("10.0.0.5/32", "the Stockade server")``)."""
    return _r(cidr, name, "caller")


# IANA IPv4 Special-Purpose Address Registry, entries not globally reachable, and multicast.
IPV4_DENY: tuple[AddressRange, ...] = (
    _r("0.0.0.0/8", "this network", "RFC 791 section 3.2"),
    _r("0.0.0.0/32", "this host on this network (unspecified)", "RFC 1122 section 3.2.1.3"),
    _r("10.0.0.0/8", "private-use", "RFC 1918"),
    _r("100.64.0.0/10", "shared address space (CGNAT)", "RFC 6598"),
    _r("127.0.0.0/8", "loopback", "RFC 1122 section 3.2.1.3"),
    _r("169.254.0.0/16", "link-local (cloud metadata endpoints)", "RFC 3927"),
    _r("172.16.0.0/12", "private-use", "RFC 1918"),
    _r("192.0.0.0/24", "IETF protocol assignments", "RFC 6890 section 2.1"),
    _r("192.0.0.0/29", "IPv4 service continuity prefix", "RFC 7335"),
    _r("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    _r("192.0.0.170/31", "NAT64/DNS64 discovery", "RFC 8880, RFC 7050"),
    _r("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    _r("192.88.99.0/24", "deprecated 6to4 relay anycast", "RFC 7526"),
    _r("192.168.0.0/16", "private-use", "RFC 1918"),
    _r("198.18.0.0/15", "benchmarking", "RFC 2544"),
    _r("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    _r("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    _r("224.0.0.0/4", "multicast", "RFC 5771"),
    _r("240.0.0.0/4", "reserved", "RFC 1112 section 4"),
    _r("255.255.255.255/32", "limited broadcast", "RFC 8190, RFC 919 section 7"),
)

# IANA IPv6 Special-Purpose Address Registry, entries not globally reachable; multicast; and
# everything outside 2000::/3, the only block IANA allocates global unicast from (RFC 4291).
IPV6_DENY: tuple[AddressRange, ...] = (
    _r("::/128", "unspecified", "RFC 4291"),
    _r("::1/128", "loopback", "RFC 4291"),
    _r("::/96", "deprecated IPv4-compatible", "RFC 4291 section 2.5.5.1"),
    _r("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
    _r("100::/64", "discard-only", "RFC 6666"),
    _r("2001::/23", "IETF protocol assignments", "RFC 2928"),
    _r("2001::/32", "Teredo", "RFC 4380, RFC 8190"),
    _r("2001:2::/48", "benchmarking", "RFC 5180"),
    _r("2001:10::/28", "deprecated ORCHID", "RFC 4843"),
    _r("2001:db8::/32", "documentation", "RFC 3849"),
    _r("2002::/16", "6to4", "RFC 3056"),
    _r("3fff::/20", "documentation", "RFC 9637"),
    _r("5f00::/16", "SRv6 SIDs", "RFC 9602"),
    _r("fc00::/7", "unique-local", "RFC 4193"),
    _r("fe80::/10", "link-local", "RFC 4291"),
    _r("fec0::/10", "deprecated site-local", "RFC 3879"),
    _r("ff00::/8", "multicast", "RFC 4291"),
)
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_OUTSIDE_GLOBAL = AddressRange(
    ipaddress.IPv6Network("::/0"), "outside IPv6 global unicast (reserved by IETF)", "RFC 4291"
)

DEFAULT_DENY: tuple[AddressRange, ...] = IPV4_DENY + IPV6_DENY


@dataclass(frozen=True)
class Refusal:
    """Why an address is refused: the range it falls in, and whether the caller named it."""

    address: IPAddress  # the address checked (an IPv4-mapped or NAT64 address as its IPv4)
    range: AddressRange
    by_caller: bool

    def describe(self) -> str:
        """``169.254.169.254, link-local (…) (RFC 3927, 169.254.0.0/16)``."""
        return f"{self.address}, {self.range.name} ({self.range.source}, {self.range.network})"


def effective_address(address: IPAddress) -> IPAddress:
    """The address that decides reachability: IPv4 for IPv4-mapped and NAT64 addresses."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _most_specific(address: IPAddress, ranges: Iterable[AddressRange]) -> AddressRange | None:
    found = [r for r in ranges if r.network.version == address.version and address in r]
    return max(found, key=lambda r: r.network.prefixlen) if found else None


def check_address(
    address: IPAddress,
    *,
    allow_cidrs: Iterable[IPNetwork] = (),
    deny_ranges: Iterable[AddressRange] = (),
) -> Refusal | None:
    """None when a job may connect to ``address``; else the :class:`Refusal`.

    The caller's ``deny_ranges`` win over everything; ``allow_cidrs`` win over the default list.
    """
    candidates = {address, effective_address(address)}
    for candidate in candidates:
        named = _most_specific(candidate, deny_ranges)
        if named is not None:
            return Refusal(candidate, named, by_caller=True)
    allow = tuple(allow_cidrs)
    for candidate in sorted(candidates, key=lambda a: a.version):  # IPv4 (the decider) first
        if any(candidate.version == net.version and candidate in net for net in allow):
            return None
    checked = effective_address(address)
    found = _most_specific(checked, DEFAULT_DENY)
    if (found is None and isinstance(checked, ipaddress.IPv6Address)
            and checked not in _IPV6_GLOBAL_UNICAST):
        found = _OUTSIDE_GLOBAL
    return Refusal(checked, found, by_caller=False) if found is not None else None
