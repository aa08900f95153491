"""Classification: first matching rule wins, no match is untrusted, a pipeline may only lower."""

from __future__ import annotations

import pytest

from stockade.errors import PolicyDenied
from stockade.policy import (
    Policy,
    classify,
    default_policy_path,
    explain,
    load_policy,
    load_policy_file,
)
from tests.unit.policy.helpers import event, policy_text


@pytest.fixture(scope="module")
def default() -> Policy:
    return load_policy_file(default_policy_path())


@pytest.mark.parametrize(
    ("fields", "tier", "rule"),
    [
        ({"event": "pull_request", "ref": "refs/pull/1/merge", "fork": True,
          "author_association": "OWNER"}, "untrusted", "fork-pull-requests"),
        ({"event": "pull_request", "ref": "refs/pull/1/merge", "fork": True,
          "author_association": "NONE"}, "untrusted", "fork-pull-requests"),
        ({"event": "push", "ref": "refs/heads/main"}, "trusted", "project-branches"),
        ({"event": "push", "ref": "refs/heads/feature/deep/x"}, "trusted", "project-branches"),
        ({"event": "push", "ref": "refs/tags/v1.2.3"}, "release", "release-tags"),
        ({"event": "push", "ref": "refs/tags/nightly"}, "untrusted", None),
        ({"event": "pull_request", "ref": "refs/pull/1/merge", "author_association": "MEMBER"},
         "trusted", "member-pull-requests"),
        ({"event": "pull_request", "ref": "refs/pull/1/merge",
          "author_association": "COLLABORATOR"}, "trusted", "member-pull-requests"),
        ({"event": "pull_request", "ref": "refs/pull/1/merge",
          "author_association": "FIRST_TIME_CONTRIBUTOR"}, "untrusted", None),
        ({"event": "pull_request", "ref": "refs/pull/1/merge"}, "untrusted", None),
        ({"event": "manual"}, "trusted", "manual-runs"),
        ({"event": "manual", "ref": "refs/tags/v9"}, "trusted", "manual-runs"),
    ],
)
def test_default_policy_table(default: Policy, fields: dict[str, object], tier: str,
                              rule: str | None) -> None:
    decision = classify(default, event(**fields))
    assert (decision.tier, decision.rule) == (tier, rule)
    assert decision.pool == default.tiers[tier].pool
    assert decision.policy_hash == default.hash
    assert decision.limits == default.tiers[tier].limits
    assert decision.requires_approval == (tier == "release")


def test_no_rules_means_everything_is_untrusted() -> None:
    policy = load_policy(policy_text())
    decision = classify(policy, event(event="push", ref="refs/tags/v1"))
    assert (decision.tier, decision.rule, decision.pool) == ("untrusted", None, "untrusted")
    assert decision.reason == "no rule matched, so the policy fails closed to untrusted"


def test_first_match_wins_and_later_rules_are_not_evaluated() -> None:
    policy = load_policy(policy_text("""\
        rules:
          - {name: tags, match: {ref: ["refs/tags/*"]}, tier: release}
          - {name: all, match: {}, tier: trusted}
          - {name: never, match: {}, tier: untrusted}
        """))
    result = explain(policy, event(ref="refs/heads/x"))
    assert result.decision.rule == "all"
    assert [(c.rule, c.matched) for c in result.checks] == [
        ("tags", False), ("all", True), ("never", None)]
    assert result.checks[0].reason == "ref refs/heads/x matches none of refs/tags/*"
    assert result.decision.reason == "rule 'all' matched: it matches every event"


def test_single_star_stays_within_one_ref_segment() -> None:
    policy = load_policy(policy_text("""\
        rules:
          - {name: top, match: {ref: ["refs/heads/*"]}, tier: trusted}
        """))
    assert classify(policy, event(ref="refs/heads/main")).tier == "trusted"
    assert classify(policy, event(ref="refs/heads/feature/x")).tier == "untrusted"


def test_repository_patterns() -> None:
    policy = load_policy(policy_text("""\
        rules:
          - {name: ours, match: {repository: ["acme/*"]}, tier: trusted}
        """))
    assert classify(policy, event(repository="acme/app")).tier == "trusted"
    result = explain(policy, event(repository="other/app"))
    assert result.decision.tier == "untrusted"
    assert result.checks[0].reason == "repository other/app matches none of acme/*"


def test_reason_names_what_matched(default: Policy) -> None:
    decision = classify(default, event(ref="refs/tags/v1.0"))
    assert decision.reason == (
        "rule 'release-tags' matched: event push, ref refs/tags/v1.0 matches refs/tags/v*")


def test_explain_says_why_each_earlier_rule_did_not_match(default: Policy) -> None:
    result = explain(default, event(event="pull_request", ref="refs/pull/3/merge",
                                    author_association="NONE"))
    reasons = {c.rule: c.reason for c in result.checks}
    assert reasons["fork-pull-requests"] == "fork is false, rule wants true"
    assert reasons["release-tags"] == "event is pull_request, rule wants push"
    assert reasons["member-pull-requests"] == (
        "author association NONE is not one of OWNER, MEMBER, COLLABORATOR")


def test_a_pipeline_may_lower_its_tier(default: Policy) -> None:
    decision = classify(default, event(ref="refs/tags/v1"), requested_tier="untrusted")
    assert (decision.tier, decision.pool, decision.classified_tier) == (
        "untrusted", "untrusted", "release")
    assert decision.rule == "release-tags"
    assert decision.requires_approval is False
    assert decision.limits == default.tiers["untrusted"].limits
    assert decision.reason.endswith("lowered from release to untrusted as the pipeline asked")


def test_asking_for_the_same_tier_is_fine(default: Policy) -> None:
    assert classify(default, event(), requested_tier="trusted").tier == "trusted"


def test_a_pipeline_may_not_raise_its_tier(default: Policy) -> None:
    with pytest.raises(PolicyDenied) as caught:
        classify(default, event(event="pull_request", ref="refs/pull/1/merge", fork=True),
                 requested_tier="trusted")
    assert caught.value.code == "policy_denied"
    assert "classified 'untrusted'" in caught.value.message
    assert "may only lower" in caught.value.hint


def test_an_unknown_requested_tier_is_refused(default: Policy) -> None:
    with pytest.raises(PolicyDenied, match="unknown tier 'admin'") as caught:
        classify(default, event(), requested_tier="admin")
    assert "untrusted, trusted, release" in caught.value.hint
