"""decide_grant: the tier must list the class and a grant must match tier, repository, ref and
environment; untrusted gets nothing whatever the policy says."""

from __future__ import annotations

import pytest

from stockade.policy.values import SecretGrant
from stockade.secrets import GrantRequest, decide_grant

GRANTS = (
    SecretGrant("ci", ("trusted",)),
    SecretGrant("deploy", ("trusted", "release"), repositories=("acme/*",),
                refs=("refs/heads/main", "refs/tags/v*"), environments=("production",)),
)


def req(cls: str = "deploy", tier: str = "release", repository: str = "acme/app",
        ref: str = "refs/tags/v1", environment: str | None = "production") -> GrantRequest:
    return GrantRequest(cls, tier, repository, ref, environment)


def test_a_matching_grant_and_tier_class_grants() -> None:
    decision = decide_grant(GRANTS, ("deploy",), req())
    assert decision.granted and decision.grant == 1


@pytest.mark.parametrize(("request_", "why"), [
    (req(repository="evil/app"), "repository evil/app matches none of acme/*"),
    (req(ref="refs/heads/dev"), "ref refs/heads/dev matches none of"),
    (req(environment=None), "environment (none) is not one of production"),
    (req(environment="staging"), "environment staging is not one of production"),
    (req(cls="ci"), "tier release does not list class ci"),
    (req(cls="other"), "does not list class other"),
])
def test_each_condition_refuses_with_its_reason(request_: GrantRequest, why: str) -> None:
    decision = decide_grant(GRANTS, ("deploy",), request_)
    assert not decision.granted and why in decision.reason


def test_the_tier_must_list_the_class_even_when_a_grant_matches() -> None:
    assert not decide_grant(GRANTS, (), req()).granted


def test_no_grant_for_the_class() -> None:
    decision = decide_grant(GRANTS, ("vault",), req(cls="vault"))
    assert not decision.granted and "no secret grant names class vault" in decision.reason


def test_untrusted_is_refused_whatever_the_policy_says() -> None:
    grants = (SecretGrant("ci", ("untrusted",)),)
    decision = decide_grant(grants, ("ci",), req(cls="ci", tier="untrusted"))
    assert not decision.granted and "untrusted" in decision.reason


def test_a_condition_left_out_matches_anything() -> None:
    assert decide_grant(GRANTS, ("ci",), req(cls="ci", tier="trusted", repository="x",
                                              ref="refs/pull/1/head", environment=None)).granted
