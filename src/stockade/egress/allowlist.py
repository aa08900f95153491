"""Allowlist entries, matching, and the effective list of a job within its tier.

An entry is ``host``, ``*.suffix`` or either with ``:port``:

- ``pypi.org`` matches the host pypi.org exactly (compared lowercase, without a trailing dot,
  internationalised names in their ASCII ``xn--`` form);
- ``*.example.com`` matches every name under example.com (``a.example.com``,
  ``a.b.example.com``) but **not** example.com itself: list both when both are needed;
- without a port an entry allows ports 80 and 443 only; ``host:8443`` allows that port only;
- an IP address may be listed in its canonical form only (``192.0.2.7``, ``[2001:db8::7]``);
  the address deny list still applies to it, and a wildcard never matches an address.

Anything not listed is denied; an empty list denies everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .hosts import Host, HostError, normalize_host, split_authority
from .interface import INTERNAL_HOST as _INTERNAL
from .interface import InvalidEntry

DEFAULT_PORTS = (80, 443)


@dataclass(frozen=True)
class Entry:
    """One parsed allowlist entry."""

    host: str  # canonical name or address text (for a wildcard: the suffix, without "*.")
    wildcard: bool = False
    port: int | None = None  # None: ports 80 and 443
    is_ip: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"*.{host}" if self.wildcard else host
        return text if self.port is None else f"{text}:{self.port}"

    def _port_ok(self, port: int) -> bool:
        return port in DEFAULT_PORTS if self.port is None else port == self.port

    def matches(self, host: Host, port: int) -> bool:
        """Whether a connection to ``host:port`` is allowed by this entry."""
        if not self._port_ok(port):
            return False
        if self.wildcard:
            return host.ip is None and host.name.endswith("." + self.host)
        return host.name == self.host

    def covers(self, other: Entry) -> bool:
        """Whether everything ``other`` allows is allowed by this entry."""
        if self.port is not None and other.port != self.port:
            return False
        if self.port is None and other.port is not None and other.port not in DEFAULT_PORTS:
            return False
        if not self.wildcard:
            return not other.wildcard and other.host == self.host
        return other.host.endswith("." + self.host) or (other.wildcard and other.host == self.host)


def parse_entry(text: str) -> Entry:
    """The :class:`Entry` ``text`` spells; raises :class:`InvalidEntry` saying how to write it."""
    raw = text.strip()
    try:
        host_text, port = split_authority(raw, default_port=0)
        wildcard = host_text.startswith("*.")
        if wildcard:
            host_text = host_text[2:]
        if "*" in host_text:
            raise HostError("'*' may only appear as a leading '*.'")
        host = normalize_host(host_text)
    except HostError as exc:
        raise InvalidEntry(
            f"egress entry {text!r} is invalid: {exc}",
            hint="write a host such as pypi.org, *.example.com or example.com:8443",
        ) from exc
    if host.ip is not None:
        canonical = str(host)
        if wildcard:
            raise InvalidEntry(f"egress entry {text!r}: a wildcard cannot cover an address",
                               hint=f"list the address itself: {canonical}")
        if host_text.lower() != canonical:
            raise InvalidEntry(f"egress entry {text!r} spells an address unusually",
                               hint=f"write it as {canonical}")
    if host.name == _INTERNAL or (wildcard and _INTERNAL.endswith("." + host.name)):
        raise InvalidEntry(f"egress entry {text!r} names the reserved host {_INTERNAL}",
                           hint=f"remove it: {_INTERNAL} is always served by the proxy itself")
    if wildcard and "." not in host.name:
        raise InvalidEntry(f"egress entry {text!r} would allow a whole top-level domain",
                           hint="list the hosts, or a wildcard under a registered domain")
    return Entry(host.name, wildcard, port or None, host.ip is not None)


@dataclass(frozen=True)
class Allowlist:
    """An ordered set of entries; :meth:`match` returns the first entry allowing host:port."""

    entries: tuple[Entry, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> Allowlist:
        """All entries parsed; raises :class:`InvalidEntry` on the first bad one."""
        return cls(_dedupe(parse_entry(text) for text in texts))

    def match(self, host: Host, port: int) -> Entry | None:
        return next((entry for entry in self.entries if entry.matches(host, port)), None)

    def covering(self, entry: Entry) -> Entry | None:
        return next((mine for mine in self.entries if mine.covers(entry)), None)

    def texts(self) -> tuple[str, ...]:
        return tuple(str(entry) for entry in self.entries)

    def describe(self) -> str:
        """``pypi.org, files.pythonhosted.org``, or ``nothing``."""
        return ", ".join(self.texts()) or "nothing"


def _dedupe(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    return tuple(dict.fromkeys(entries))


def effective_allowlist(
    tier_entries: Sequence[str],
    job_entries: Sequence[str] | None,
    accept_job_hosts: bool = False,
    *,
    tier: str = "",
) -> tuple[Allowlist, tuple[str, ...]]:
    """The job's allowlist within its tier, and the problems found (fail closed on any).

    ``job_entries`` None (the job declares nothing) means the tier's list. Otherwise the result
    is the job's entries the tier covers; an entry it does not cover is a problem, unless the
    tier accepts the hosts jobs declare (``accept_job_hosts``). Unreadable entries of either
    list are problems and are left out. A caller must not start the job when problems exist.
    """
    problems: list[str] = []
    tier_name = f"tier {tier}" if tier else "the tier"
    tier_list = Allowlist(_dedupe(_parsed(tier_entries, f"{tier_name}'s egress", problems)))
    if job_entries is None:
        return tier_list, tuple(problems)
    kept: list[Entry] = []
    for entry in _parsed(job_entries, "the job's egress", problems):
        if accept_job_hosts or tier_list.covering(entry) is not None:
            kept.append(entry)
            continue
        problems.append(
            f"the job's egress entry {entry} is not allowed by {tier_name} "
            f"(allowed: {tier_list.describe()}); remove it from the job's egress list, or add it "
            f"to the tier's egress list in the policy"
        )
    return Allowlist(_dedupe(kept)), tuple(problems)


def _parsed(texts: Sequence[str], where: str, problems: list[str]) -> list[Entry]:
    entries = []
    for text in texts:
        try:
            entries.append(parse_entry(text))
        except InvalidEntry as exc:
            problems.append(f"{where}: {exc}")
    return entries
