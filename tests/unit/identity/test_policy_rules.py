"""Policy validation for identity and secrets, located at file:line; Decision.mask_fail_closed."""

from __future__ import annotations

import pytest

from stockade.api.agent import SECRETS_AUDIENCE
from stockade.policy import PolicyError, classify, load_policy
from stockade.policy.schema import RESERVED_AUDIENCE_PREFIX
from tests.unit.policy.helpers import event, policy_text


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    return [str(p) for p in caught.value.problems]


def with_untrusted(line: str) -> str:
    return policy_text().replace("    pool: untrusted\n", f"    pool: untrusted\n    {line}\n", 1)


def test_the_secrets_audience_is_reserved() -> None:
    assert SECRETS_AUDIENCE.startswith(RESERVED_AUDIENCE_PREFIX)
    text = policy_text().replace("    egress: [pypi.org]\n",
                                 "    egress: [pypi.org]\n    token_audiences: [aws, stockade:secrets]\n")
    (found,) = problems(text)
    assert found.startswith("policy.yml:10:")
    assert "tiers.trusted.token_audiences[1]: audience 'stockade:secrets' is reserved" in found


def test_untrusted_secret_classes_are_refused_where_they_are_written() -> None:
    (found,) = problems(with_untrusted("secret_classes: [ci]"))
    assert found.startswith("policy.yml:5:21:")
    assert "tiers.untrusted.secret_classes: the untrusted tier can never be granted secrets" in found


def test_a_grant_naming_untrusted_is_refused_at_its_line() -> None:
    text = policy_text() + "secret_grants:\n  - class: ci\n    tiers: [trusted, untrusted]\n"
    (found,) = problems(text)
    assert found.startswith("policy.yml:17:22:")
    assert "secret_grants[0].tiers[1]: a secret grant can never name the untrusted tier" in found


def test_grant_keys_are_checked() -> None:
    text = policy_text() + "secret_grants:\n  - {class: ci, tiers: [trusted], ref: [x]}\n"
    (found,) = problems(text)
    assert "unknown key 'ref'" in found and "did you mean 'refs'" in found


def test_grants_load_and_mask_fail_closed_reaches_the_decision() -> None:
    text = policy_text().replace("    egress: [pypi.org]\n",
                                 "    egress: [pypi.org]\n    mask_fail_closed: true\n")
    text += ("secret_grants:\n"
             "  - {class: deploy, tiers: [release], refs: [refs/tags/v*], "
             "environments: [production]}\n")
    policy = load_policy(text)
    (grant,) = policy.secret_grants
    assert grant.secret_class == "deploy" and grant.refs == ("refs/tags/v*",)
    assert grant.repositories is None and grant.environments == ("production",)
    assert policy.tiers["trusted"].mask_fail_closed is True
    rules = "rules:\n  - {name: all, match: {event: [push]}, tier: trusted}\n"
    policy = load_policy(text.replace("rules: []\n", rules))
    assert classify(policy, event()).mask_fail_closed is True
    assert classify(policy, event(), "untrusted").mask_fail_closed is False
