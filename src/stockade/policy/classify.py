"""Event → tier: rules in order, first match wins, no match means untrusted. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from stockade.errors import PolicyDenied
from stockade.policy.globs import glob_match
from stockade.policy.schema import Event
from stockade.policy.values import TIER_ORDER, Decision, Policy, Rule

FAIL_CLOSED_TIER = "untrusted"


@dataclass(frozen=True)
class RuleCheck:
    """How one rule fared against an event: matched, or the first condition that did not hold."""

    rule: str
    tier: str
    matched: bool | None  # None: not evaluated, an earlier rule matched
    reason: str


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    checks: list[RuleCheck]


def _words(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def mismatch(rule: Rule, event: Event) -> str | None:
    """Why ``rule`` does not match ``event``, or None when it does."""
    if rule.events is not None and event.event not in rule.events:
        return f"event is {event.event}, rule wants {_words(rule.events)}"
    if rule.fork is not None and event.fork != rule.fork:
        return f"fork is {str(event.fork).lower()}, rule wants {str(rule.fork).lower()}"
    if rule.refs is not None and not any(glob_match(p, event.ref) for p in rule.refs):
        return f"ref {event.ref} matches none of {_words(rule.refs)}"
    if rule.author_associations is not None and (
        event.author_association not in rule.author_associations
    ):
        return (f"author association {event.author_association} is not one of "
                f"{_words(rule.author_associations)}")
    if rule.repositories is not None and not any(
        glob_match(p, event.repository) for p in rule.repositories
    ):
        return f"repository {event.repository} matches none of {_words(rule.repositories)}"
    return None


def describe_match(rule: Rule) -> str:
    """The rule's conditions in one line: ``event push, ref refs/tags/v*``."""
    parts = []
    if rule.events is not None:
        parts.append("event " + " or ".join(rule.events))
    if rule.fork is not None:
        parts.append(f"fork {str(rule.fork).lower()}")
    if rule.refs is not None:
        parts.append("ref " + " or ".join(rule.refs))
    if rule.author_associations is not None:
        parts.append("author association " + " or ".join(rule.author_associations))
    if rule.repositories is not None:
        parts.append("repository " + " or ".join(rule.repositories))
    return ", ".join(parts) or "every event"


def _why_match(rule: Rule, event: Event) -> str:
    parts = []
    if rule.events is not None:
        parts.append(f"event {event.event}")
    if rule.fork is not None:
        parts.append(f"fork {str(event.fork).lower()}")
    if rule.refs is not None:
        pattern = next(p for p in rule.refs if glob_match(p, event.ref))
        parts.append(f"ref {event.ref} matches {pattern}")
    if rule.author_associations is not None:
        parts.append(f"author association {event.author_association}")
    if rule.repositories is not None:
        pattern = next(p for p in rule.repositories if glob_match(p, event.repository))
        parts.append(f"repository {event.repository} matches {pattern}")
    return ", ".join(parts) or "it matches every event"


def explain(policy: Policy, event: Event, requested_tier: str | None = None) -> Explanation:
    """The decision for ``event`` and how every rule fared; see :func:`classify`."""
    checks: list[RuleCheck] = []
    matched: Rule | None = None
    why = ""
    for rule in policy.rules:
        if matched is not None:
            checks.append(RuleCheck(rule.name, rule.tier, None, "not evaluated: first match wins"))
            continue
        why_not = mismatch(rule, event)
        if why_not is None:
            matched, why = rule, _why_match(rule, event)
            checks.append(RuleCheck(rule.name, rule.tier, True, why))
        else:
            checks.append(RuleCheck(rule.name, rule.tier, False, why_not))
    if matched is None:
        classified = FAIL_CLOSED_TIER
        reason = f"no rule matched, so the policy fails closed to {FAIL_CLOSED_TIER}"
    else:
        classified = matched.tier
        reason = f"rule {matched.name!r} matched: {why}"
    tier = _lowered(classified, requested_tier)
    if tier != classified:
        reason += f"; lowered from {classified} to {tier} as the pipeline asked"
    spec = policy.tiers[tier]
    decision = Decision(
        tier=tier, pool=spec.pool, rule=matched.name if matched else None,
        policy_hash=policy.hash, reason=reason, requires_approval=spec.requires_approval,
        limits=spec.limits, classified_tier=classified, egress=spec.network,
        mask_fail_closed=spec.mask_fail_closed,
    )
    return Explanation(decision, checks)


def classify(policy: Policy, event: Event, requested_tier: str | None = None) -> Decision:
    """The tier, pool and limits for ``event``; ``requested_tier`` may only lower the tier.

    Raises :class:`PolicyDenied` for an unknown or higher requested tier.
    """
    return explain(policy, event, requested_tier).decision


def _lowered(classified: str, requested: str | None) -> str:
    if requested is None:
        return classified
    if requested not in TIER_ORDER:
        raise PolicyDenied(f"unknown tier {requested!r}",
                           hint="a tier is one of " + ", ".join(TIER_ORDER))
    if TIER_ORDER.index(requested) > TIER_ORDER.index(classified):
        raise PolicyDenied(
            f"tier {requested!r} asked for, but this event is classified {classified!r}",
            hint=f"a pipeline may only lower its tier: ask for {classified!r} or lower, "
                 "or have the operator change the policy",
        )
    return requested
