"""The decision for one host:port: allowlist, then host-side resolution, then every address.

Nothing is resolved for a host the allowlist refuses (outside audit mode), so a build cannot
leak data through DNS queries either. The addresses that passed are the only ones connected to:
no second resolution between the check and the connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from .addresses import check_address
from .hosts import Host
from .interface import IPAddress, JobEgress, Reason, Resolver


@dataclass(frozen=True)
class Verdict:
    """Allowed (with the addresses to try, in order) or refused (with why)."""

    allowed: bool
    reason: Reason
    detail: str
    rule: str | None = None
    would_deny: bool = False  # audit mode: an allowlist miss let through
    addresses: tuple[IPAddress, ...] = ()
    refused_ip: IPAddress | None = None


async def system_resolver(name: str, port: int) -> Sequence[IPAddress]:
    """The host's resolver (getaddrinfo), addresses in its order, without duplicates."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        found[ipaddress.ip_address(sockaddr[0])] = None
    return list(found)


async def decide(host: Host, port: int, config: JobEgress, resolver: Resolver) -> Verdict:
    """Whether the job may connect to ``host:port``, and to which addresses."""
    entry = config.allowlist.match(host, port)
    would_deny = False
    if entry is None:
        if not config.audit:
            return Verdict(False, Reason.NOT_LISTED, "is not in the allowlist")
        would_deny = True
    rule = str(entry) if entry is not None else None
    if host.ip is not None:
        addresses: tuple[IPAddress, ...] = (host.ip,)
    else:
        try:
            async with asyncio.timeout(config.limits.dns_timeout_s):
                found = await resolver(host.name, port)
            addresses = tuple(_plain(ipaddress.ip_address(str(a))) for a in found)
        except (OSError, TimeoutError, ValueError) as exc:
            return Verdict(False, Reason.DNS_FAILURE, f"could not be resolved ({exc or 'timeout'})",
                           rule, would_deny)
        if not addresses:
            return Verdict(False, Reason.DNS_FAILURE, "resolves to no address", rule, would_deny)
    for address in addresses:
        refusal = check_address(
            address, allow_cidrs=config.allow_cidrs, deny_ranges=config.deny_ranges
        )
        if refusal is not None:
            via = "is the address" if host.ip is not None else "resolves to"
            # Address refusals hold in audit mode too: audit learns hosts, it opens no ranges.
            return Verdict(
                False,
                Reason.DENIED_ADDRESS if refusal.by_caller else Reason.FORBIDDEN_ADDRESS,
                f"{via} {refusal.describe()}",
                rule, would_deny=False, refused_ip=refusal.address,
            )
    if would_deny:
        return Verdict(True, Reason.NOT_LISTED, "is not in the allowlist (allowed: audit mode)",
                       None, True, addresses)
    return Verdict(True, Reason.ALLOWED, f"matches {rule}", rule, False, addresses)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is (what is checked and connected)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
