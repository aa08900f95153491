"""Warnings for valid policies that hand trust to the wrong code."""

from __future__ import annotations

from stockade.policy import default_policy_path
from stockade.policy.lint import lint_policy
from tests.unit.policy.helpers import policy_text


def warnings(rules: str) -> list[str]:
    return [str(w) for w in lint_policy(policy_text(rules)).warnings]


def test_the_default_policy_has_no_warnings() -> None:
    assert lint_policy(default_policy_path().read_text()).warnings == []


def test_a_trusted_rule_that_can_match_fork_pull_requests_is_flagged() -> None:
    found = warnings("""\
        rules:
          - {name: members, match: {author_association: [MEMBER]}, tier: trusted}
        """)
    assert found == [
        "policy.yml:15:28: rules[0].match: rule 'members' can classify pull requests from forks "
        "as trusted (add `fork: false` to its match, unless running strangers' code as trusted "
        "is what you mean)"]


def test_rules_that_cannot_match_fork_pull_requests_are_fine() -> None:
    assert warnings("""\
        rules:
          - {name: pushes, match: {event: [push]}, tier: trusted}
          - {name: prs, match: {event: [pull_request], fork: false}, tier: trusted}
          - {name: forks, match: {fork: true}, tier: untrusted}
        """) == []


def test_rules_after_a_catch_all_are_never_reached() -> None:
    found = warnings("""\
        rules:
          - {name: all, match: {}, tier: untrusted}
          - {name: late, match: {event: [push]}, tier: trusted}
        """)
    assert found == ["policy.yml:16:12: rules[1].name: rule 'late' is never reached (rule 'all' "
                     "before it matches every event; move it last or remove it)"]
