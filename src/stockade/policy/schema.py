"""The policy file format, version 1, and the event it classifies (pydantic, unknown keys refused).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from stockade.pipeline.located import named_pattern
from stockade.pipeline.models import Duration, EgressMode, HostPattern, Size, TierName

EventName = Literal["push", "pull_request", "manual"]
AuthorAssociation = Literal[
    # GitHub's values (pull_request.author_association).
    "OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR",
    "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE",
]
POOL_NAME = named_pattern(r"^[a-z0-9][a-z0-9_-]{0,63}$",
                          "use lowercase letters, digits, '_' or '-' (at most 64)")
RULE_NAME = named_pattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                          "use letters, digits, '_', '.' or '-' (at most 64)")
REF_GLOB = named_pattern(r"^refs/[^\s\x00]{1,250}$",
                         "write a full ref pattern such as refs/heads/main or refs/tags/v*")
EVENT_REF = named_pattern(r"^refs/\S{1,250}$",
                          "write the full ref, such as refs/heads/main or refs/tags/v1.0")
SHA = named_pattern(r"^([0-9a-f]{40}|[0-9a-f]{64})$",
                    "write the full commit id: 40 (or 64) lowercase hex digits")
LABEL = named_pattern(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$", "use letters, digits and _ . : / -")
ENVIRONMENT = named_pattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                            "use letters, digits, '_', '.' or '-' (at most 64)")
#: Audiences of Stockade's own services (the secrets broker is ``stockade:secrets``): the server
#: mints them itself when a job needs them; a tier can never list one.
RESERVED_AUDIENCE_PREFIX = "stockade:"

def _cidr(value: object) -> object:
    if not isinstance(value, str):
        return value  # the str type check reports it
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise PydanticCustomError(
            "cidr", "{value} is not a network address: {why}",
            {"value": repr(value), "why": str(exc),
             "hint": "write an address range such as 203.0.113.0/24 or 127.0.0.1/32, with "
                     "no host bits set"},
        ) from None


PoolName = Annotated[str, Field(pattern=POOL_NAME)]
Cidr = Annotated[str, BeforeValidator(_cidr)]
RuleName = Annotated[str, Field(pattern=RULE_NAME)]
RefGlob = Annotated[str, Field(pattern=REF_GLOB)]
Label = Annotated[str, Field(pattern=LABEL)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LimitsSpec(_Strict):
    """Caps: a job asking for more is refused; a job saying nothing gets at most this."""

    cpus: float = Field(gt=0, le=256, examples=[2])
    memory: Size = Field(examples=["4Gi"])
    pids: int = Field(ge=16, le=1_000_000, examples=[1024])
    disk: Size = Field(examples=["10Gi"])
    timeout: Duration = Field(examples=["1h"])


class EgressLimitsSpec(_Strict):
    """Per-job caps on what goes through the job's proxy."""

    connections: int = Field(default=1024, ge=1, le=1_000_000, examples=[1024])
    bytes: Size = Field(default=8 * 1024**3, examples=["8Gi"])
    idle: Duration = Field(default=300.0, examples=["5m"])
    connection_time: Duration = Field(default=3600.0, examples=["1h"])


class TierSpec(_Strict):
    pool: PoolName = Field(examples=["untrusted"])
    limits: LimitsSpec = Field(examples=["{cpus: 2, memory: 4Gi, pids: 1024, disk: 10Gi, "
                                         "timeout: 1h}"])
    requires_approval: bool = Field(default=False, examples=["false"])
    egress: list[HostPattern] = Field(default_factory=list, max_length=1000,
                                      examples=["[pypi.org]"])
    # audit: allow every host the address rules allow, and record what enforce would deny.
    egress_mode: EgressMode = Field(default="enforce", examples=["enforce"])
    # Whether a job may add hosts of its own (`egress:` in the pipeline) beyond `egress`.
    egress_accept_job_hosts: bool = Field(default=False, examples=["false"])
    # Special-purpose address ranges (private, loopback, ...) this tier may reach after all.
    egress_allow_cidrs: list[Cidr] = Field(default_factory=list, max_length=256,
                                           examples=["[203.0.113.0/24]"])
    egress_limits: EgressLimitsSpec = Field(
        default_factory=EgressLimitsSpec,
        examples=["{connections: 1024, bytes: 8Gi, idle: 5m, connection_time: 1h}"])
    secret_classes: list[Label] = Field(default_factory=list, examples=["[deploy]"])
    token_audiences: list[Label] = Field(default_factory=list, examples=["[sts.amazonaws.com]"])
    # A registered secret or canary surviving masking stops the job and holds its log for an
    # admin to review (docs/identity.md).
    mask_fail_closed: bool = Field(default=False, examples=["true"])

    @model_validator(mode="after")
    def _no_reserved_audience(self) -> TierSpec:
        for index, audience in enumerate(self.token_audiences):
            if audience.startswith(RESERVED_AUDIENCE_PREFIX):
                raise PydanticCustomError(
                    "reserved_audience", "audience {audience} is reserved for Stockade itself",
                    {"audience": repr(audience), "at": ("token_audiences", index),
                     "hint": "remove it: the server mints a token for its secrets broker by "
                             "itself, only for jobs whose steps declare secrets"},
                )
        return self


class TiersSpec(_Strict):
    untrusted: TierSpec
    trusted: TierSpec
    release: TierSpec

    @model_validator(mode="after")
    def _separate_pools(self) -> TiersSpec:
        # Untrusted code must never share a host with trusted or release jobs (DESIGN §2).
        seen: dict[str, str] = {}
        for name in ("untrusted", "trusted", "release"):
            pool = getattr(self, name).pool
            if pool in seen:
                raise PydanticCustomError(
                    "shared_pool", "tiers {a} and {b} share pool {pool}",
                    {"a": seen[pool], "b": name, "pool": repr(pool), "at": (name, "pool"),
                     "hint": "give every tier its own pool, so a job of one tier never runs "
                             "on a host that serves another"},
                )
            seen[pool] = name
        return self

    @model_validator(mode="after")
    def _untrusted_gets_no_secrets(self) -> TiersSpec:
        if self.untrusted.secret_classes:
            raise PydanticCustomError(
                "untrusted_secrets", "the untrusted tier can never be granted secrets",
                {"at": ("untrusted", "secret_classes"),
                 "hint": "write `secret_classes: []` for untrusted: it runs anyone's code "
                         "(fork pull requests), which must never see a secret"},
            )
        return self


class SecretGrantSpec(_Strict):
    """Grants one secret class; every condition given must hold, one left out matches anything."""

    secret_class: Label = Field(alias="class", examples=["deploy"])
    tiers: list[TierName] = Field(min_length=1, max_length=3, examples=["[release]"])
    repositories: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        default=None, min_length=1, examples=["[acme/app]"])
    refs: list[RefGlob] | None = Field(default=None, min_length=1,
                                       examples=["[refs/heads/main, refs/tags/v*]"])
    environments: list[Annotated[str, Field(pattern=ENVIRONMENT)]] | None = Field(
        default=None, min_length=1, examples=["[production]"])

    @model_validator(mode="after")
    def _never_untrusted(self) -> SecretGrantSpec:
        if "untrusted" in self.tiers:
            raise PydanticCustomError(
                "untrusted_grant", "a secret grant can never name the untrusted tier",
                {"at": ("tiers", self.tiers.index("untrusted")),
                 "hint": "grant the class to trusted or release only: untrusted runs anyone's "
                         "code, which must never see a secret"},
            )
        return self


class MatchSpec(_Strict):
    """Conditions, all of which must hold; a condition left out matches anything."""

    event: list[EventName] | None = Field(default=None, min_length=1, examples=["[push]"])
    fork: bool | None = Field(default=None, examples=["false"])
    ref: list[RefGlob] | None = Field(default=None, min_length=1, examples=["[refs/heads/**]"])
    author_association: list[AuthorAssociation] | None = Field(
        default=None, min_length=1, examples=["[OWNER, MEMBER, COLLABORATOR]"])
    repository: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        default=None, min_length=1, examples=["[acme/*]"])


class RuleSpec(_Strict):
    name: RuleName = Field(examples=["member-branches"])
    match: MatchSpec = Field(examples=["{event: [push], ref: [refs/heads/**]}"])
    tier: TierName = Field(examples=["trusted"])


class PolicySpec(_Strict):
    version: Literal[1] = Field(examples=["1"])
    tiers: TiersSpec = Field(examples=["{untrusted: ..., trusted: ..., release: ...}"])
    rules: list[RuleSpec] = Field(max_length=1000,
                                  examples=["[{name: ..., match: ..., tier: ...}]"])
    secret_grants: list[SecretGrantSpec] = Field(
        default_factory=list, max_length=1000,
        examples=["[{class: deploy, tiers: [release], refs: [refs/tags/v*]}]"])

    @model_validator(mode="after")
    def _unique_rule_names(self) -> PolicySpec:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:
                raise PydanticCustomError(
                    "duplicate_rule", "rule name {name} is used twice",
                    {"name": repr(rule.name), "at": ("rules", index, "name"),
                     "hint": "give each rule its own name; decisions record it"},
                )
            seen.add(rule.name)
        return self


class Event(BaseModel):
    """What happened: the input to classification (a webhook, a submit, a local run)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event: EventName = Field(examples=["push"])
    repository: str = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$",
                            examples=["acme/app"])
    ref: str = Field(pattern=EVENT_REF, examples=["refs/heads/main"])
    sha: str = Field(pattern=SHA, examples=["<40 hex digits>"])
    fork: bool = Field(default=False, examples=["false"])
    author_association: AuthorAssociation = Field(default="NONE", examples=["MEMBER"])
    actor: str = Field(default="", max_length=256, examples=["octocat"])

    @property
    def tag(self) -> bool:
        """Whether the ref is a tag (``refs/tags/...``)."""
        return self.ref.startswith("refs/tags/")

    @model_validator(mode="after")
    def _fork_only_for_pull_requests(self) -> Event:
        if self.fork and self.event != "pull_request":
            raise PydanticCustomError(
                "fork_event", "fork is true but the event is {event}",
                {"event": self.event, "at": ("fork",),
                 "hint": "only a pull_request comes from a fork; set fork: false"},
            )
        return self
