"""Loading the operator's policy file: located errors like the pipeline's, versioned by hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from stockade.pipeline.loader import read_text_file
from stockade.pipeline.located import validate_document
from stockade.pipeline.problems import FileProblems
from stockade.pipeline.yamldoc import Document, read_yaml
from stockade.policy.schema import PolicySpec, RuleSpec, SecretGrantSpec, TierSpec
from stockade.policy.values import TIER_ORDER, Egress, Limits, Policy, Rule, SecretGrant, Tier


class PolicyError(FileProblems):
    """The policy file is not valid; nothing is classified with it."""

    code = "invalid_policy"


def default_policy_path() -> Path:
    """The policy shipped with Stockade (used when the operator has none)."""
    return Path(__file__).with_name("default-policy.yml")


def policy_hash(data: bytes) -> str:
    """``sha256:<hex>`` of the exact bytes: the policy's version."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_policy(text: str, filename: str = "policy.yml") -> Policy:
    """Parse and validate a policy; raise :class:`PolicyError` listing every problem."""
    return load_policy_document(text, filename)[0]


def load_policy_document(text: str, filename: str = "policy.yml") -> tuple[Policy, Document]:
    """Like :func:`load_policy`, also returning the positions of everything in the file."""
    doc, problems = read_yaml(text, filename)
    if doc.data is not None and not isinstance(doc.data, dict):
        problems.append(doc.problem((), "the file must be a mapping",
                                    "start with `version: 1`, `tiers:` and `rules:`"))
    if problems:
        raise PolicyError(problems)
    spec, problems = validate_document(PolicySpec, doc)
    if problems or spec is None:
        raise PolicyError(problems)
    tiers = {name: _tier(name, getattr(spec.tiers, name)) for name in TIER_ORDER}
    policy = Policy(
        hash=policy_hash(text.encode("utf-8", "surrogatepass")),
        tiers=tiers,
        rules=[_rule(r) for r in spec.rules],
        source=filename,
        secret_grants=tuple(_grant(g) for g in spec.secret_grants),
    )
    return policy, doc


def load_policy_file(path: Path) -> Policy:
    """Read and load a policy file; its hash is that of the bytes on disk."""
    return load_policy(read_text_file(path, PolicyError), str(path))


def _tier(name: str, spec: TierSpec) -> Tier:
    lim = spec.limits
    caps = spec.egress_limits
    network = Egress(
        allow=tuple(spec.egress), mode=spec.egress_mode,
        accept_job_hosts=spec.egress_accept_job_hosts, allow_cidrs=tuple(spec.egress_allow_cidrs),
        max_connections=caps.connections, max_bytes=caps.bytes, idle_timeout=caps.idle,
        connection_time=caps.connection_time,
    )
    return Tier(
        name=name, pool=spec.pool,
        limits=Limits(cpus=lim.cpus, memory=lim.memory, pids=lim.pids, disk=lim.disk,
                      timeout=lim.timeout),
        requires_approval=spec.requires_approval, egress=tuple(spec.egress),
        secret_classes=tuple(spec.secret_classes), token_audiences=tuple(spec.token_audiences),
        network=network, mask_fail_closed=spec.mask_fail_closed,
    )


def _grant(spec: SecretGrantSpec) -> SecretGrant:
    def opt(values: list[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values)

    return SecretGrant(secret_class=spec.secret_class, tiers=tuple(spec.tiers),
                       repositories=opt(spec.repositories), refs=opt(spec.refs),
                       environments=opt(spec.environments))


def _rule(spec: RuleSpec) -> Rule:
    m = spec.match

    def opt(values: list[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values)

    return Rule(name=spec.name, tier=spec.tier, events=opt(list(m.event) if m.event else None),
                fork=m.fork, refs=opt(m.ref),
                author_associations=opt(list(m.author_association) if m.author_association
                                        else None),
                repositories=opt(m.repository))
