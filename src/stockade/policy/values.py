"""The policy as the rest of Stockade uses it: frozen values built from a validated file."""

from __future__ import annotations

from dataclasses import dataclass

from stockade.pipeline import format_duration, format_size

TIER_ORDER = ("untrusted", "trusted", "release")  # lower → higher trust


@dataclass(frozen=True)
class Limits:
    """Caps on what one job of a tier may use (bytes and seconds)."""

    cpus: float
    memory: int
    pids: int
    disk: int
    timeout: float

    def describe(self) -> str:
        """``cpus 2, memory 4Gi, pids 1024, disk 10Gi, timeout 1h``."""
        return (f"cpus {self.cpus:g}, memory {format_size(self.memory)}, pids {self.pids}, "
                f"disk {format_size(self.disk)}, timeout {format_duration(self.timeout)}")


@dataclass(frozen=True)
class Egress:
    """A tier's way out: the hosts its jobs may reach, and how (see docs/egress.md)."""

    allow: tuple[str, ...] = ()
    mode: str = "enforce"  # or "audit"
    accept_job_hosts: bool = False
    allow_cidrs: tuple[str, ...] = ()
    max_connections: int = 1024
    max_bytes: int = 8 * 1024**3
    idle_timeout: float = 300.0
    connection_time: float = 3600.0


@dataclass(frozen=True)
class Tier:
    """One trust tier: where its jobs run, what they may use, what later issues will grant."""

    name: str
    pool: str
    limits: Limits
    requires_approval: bool
    egress: tuple[str, ...]
    secret_classes: tuple[str, ...]
    token_audiences: tuple[str, ...]
    network: Egress = Egress()
    # A registered secret or canary surviving masking stops the job and holds its log.
    mask_fail_closed: bool = False


@dataclass(frozen=True)
class Rule:
    """Classifies matching events into ``tier``; a condition left as None matches anything."""

    name: str
    tier: str
    events: tuple[str, ...] | None = None
    fork: bool | None = None
    refs: tuple[str, ...] | None = None
    author_associations: tuple[str, ...] | None = None
    repositories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SecretGrant:
    """Grants ``secret_class`` to jobs of ``tiers``; a condition left as None matches anything.
    The tier's ``secret_classes`` must list the class as well (docs/policy.md)."""

    secret_class: str
    tiers: tuple[str, ...]
    repositories: tuple[str, ...] | None = None
    refs: tuple[str, ...] | None = None
    environments: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Policy:
    """A validated policy, versioned by ``hash`` = ``sha256:<hex>`` of its exact bytes."""

    hash: str
    tiers: dict[str, Tier]
    rules: list[Rule]
    source: str = ""
    secret_grants: tuple[SecretGrant, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Where an event's jobs run and why; recorded with every run."""

    tier: str
    pool: str
    rule: str | None  # the matching rule; None when no rule matched (fail closed)
    policy_hash: str
    reason: str
    requires_approval: bool
    limits: Limits
    classified_tier: str  # the tier the rules gave, before a pipeline lowered it
    egress: Egress = Egress()
    # The tier's fail-closed masking, for JobPayload.mask_fail_closed.
    mask_fail_closed: bool = False
