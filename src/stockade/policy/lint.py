"""Warnings for a valid policy that probably does not say what its operator means.

Errors make a policy unusable; these do not, but each is a way to hand trust to the wrong code:
a rule that can give fork pull requests more than ``untrusted``, a rule no event can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockade.pipeline.problems import Problem
from stockade.policy.loader import load_policy_document
from stockade.policy.values import Policy, Rule


@dataclass(frozen=True)
class PolicyReport:
    """A valid policy and its warnings (located like errors)."""

    policy: Policy
    warnings: list[Problem]


def _matches_everything(rule: Rule) -> bool:
    return all(
        condition is None
        for condition in (rule.events, rule.fork, rule.refs, rule.author_associations,
                          rule.repositories)
    )


def _can_match_fork_pull_requests(rule: Rule) -> bool:
    return (rule.events is None or "pull_request" in rule.events) and rule.fork is not False


def lint_policy(text: str, filename: str = "policy.yml") -> PolicyReport:
    """Validate like :func:`load_policy` (raising :class:`PolicyError`), then warn."""
    policy, doc = load_policy_document(text, filename)
    warnings: list[Problem] = []
    catch_all: str | None = None
    for index, rule in enumerate(policy.rules):
        if catch_all is not None:
            warnings.append(doc.problem(
                ("rules", index, "name"), f"rule {rule.name!r} is never reached",
                f"rule {catch_all!r} before it matches every event; move it last or remove it"))
            continue
        if rule.tier != "untrusted" and _can_match_fork_pull_requests(rule):
            warnings.append(doc.problem(
                ("rules", index, "match"),
                f"rule {rule.name!r} can classify pull requests from forks as {rule.tier}",
                "add `fork: false` to its match, unless running strangers' code as "
                f"{rule.tier} is what you mean"))
        if _matches_everything(rule):
            catch_all = rule.name
    return PolicyReport(policy, warnings)
