"""Policy files load strictly, with located errors, and are versioned by the hash of their bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stockade.policy import (
    TIER_ORDER,
    PolicyError,
    default_policy_path,
    load_policy,
    load_policy_file,
)
from tests.unit.policy.helpers import policy_text


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    assert caught.value.code == "invalid_policy"
    return [str(p) for p in caught.value.problems]


def test_a_valid_policy_loads_with_all_three_tiers() -> None:
    policy = load_policy(policy_text())
    assert tuple(policy.tiers) == TIER_ORDER == ("untrusted", "trusted", "release")
    trusted = policy.tiers["trusted"]
    assert trusted.pool == "trusted"
    assert trusted.limits.memory == 4 * 1024**3 and trusted.limits.timeout == 3600
    assert trusted.egress == ("pypi.org",)
    assert trusted.secret_classes == () and trusted.token_audiences == ()
    assert policy.tiers["release"].requires_approval is True
    assert policy.tiers["untrusted"].requires_approval is False


def test_hash_is_sha256_of_the_exact_bytes_and_changes_with_them() -> None:
    text = policy_text()
    policy = load_policy(text)
    assert policy.hash == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert load_policy(text).hash == policy.hash
    assert load_policy(text + "# a comment\n").hash != policy.hash


def test_file_hash_matches_the_bytes_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_bytes(policy_text().replace("\n", "\r\n").encode())
    assert load_policy_file(path).hash == (
        "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest())


def test_the_packaged_default_policy_is_valid() -> None:
    policy = load_policy_file(default_policy_path())
    assert policy.rules[0].name == "fork-pull-requests"
    assert policy.tiers["untrusted"].egress == ()
    assert policy.tiers["release"].requires_approval


def test_a_missing_tier_is_an_error() -> None:
    text = policy_text().replace("  release:", "  released:")
    found = problems(text)
    assert any("tiers.released: unknown key 'released'" in p for p in found)
    assert any("tiers.release: required key 'release' is missing" in p for p in found)


def test_a_rule_with_an_unknown_tier_points_at_it() -> None:
    found = problems(policy_text("""\
        rules:
          - name: r
            match: {event: [push]}
            tier: admin
        """))
    assert len(found) == 1
    assert found[0].startswith(
        "policy.yml:17:11: rules[0].tier: a string ('admin') is not allowed")


def test_unknown_match_key_suggests_the_right_one() -> None:
    found = problems(policy_text("""\
        rules:
          - name: r
            match: {events: [push]}
            tier: trusted
        """))
    assert "rules[0].match.events: unknown key 'events' (did you mean 'event'?" in found[0]


@pytest.mark.parametrize(
    ("match", "part"),
    [
        ("{event: [merge]}", "rules[0].match.event[0]: a string ('merge') is not allowed"),
        ("{event: push}", "rules[0].match.event: expected a list, got a string"),
        ("{ref: [main]}", "write a full ref pattern such as refs/heads/main"),
        ("{author_association: [member]}", "'OWNER', 'MEMBER'"),
        ("{fork: 'no'}", "rules[0].match.fork: expected true or false"),
        ("{event: []}", "rules[0].match.event: must not be empty"),
    ],
)
def test_match_errors(match: str, part: str) -> None:
    found = problems(policy_text(f"rules:\n  - name: r\n    match: {match}\n    tier: trusted\n"))
    assert any(part in p for p in found), found


def test_rule_names_are_unique() -> None:
    found = problems(policy_text("""\
        rules:
          - {name: r, match: {}, tier: untrusted}
          - {name: r, match: {}, tier: untrusted}
        """))
    assert found == [
        "policy.yml:16:12: rules[1].name: rule name 'r' is used twice "
        "(give each rule its own name; decisions record it)"]


def test_a_rule_needs_an_explicit_match() -> None:
    found = problems(policy_text("rules:\n  - {name: r, tier: trusted}\n"))
    assert "rules[0].match: required key 'match' is missing" in found[0]


def test_tiers_may_not_share_a_pool() -> None:
    text = policy_text().replace("pool: release", "pool: untrusted")
    found = problems(text)
    assert len(found) == 1
    assert "tiers.release.pool: tiers untrusted and release share pool 'untrusted'" in found[0]


@pytest.mark.parametrize(
    ("old", "new", "part"),
    [
        ("timeout: 30m", "timeout: 30", "tiers.untrusted.limits.timeout: a duration needs a unit"),
        ("memory: 1Gi", "memory: 1G", "did you mean 1Gi?"),
        ("egress: [pypi.org]", "egress: ['https://pypi.org/']", "tiers.trusted.egress[0]"),
        ("pool: trusted", "pool: Trusted Pool", "tiers.trusted.pool"),
        ("requires_approval: true", "requires_approval: yes please",
         "tiers.release.requires_approval: expected true or false"),
    ],
)
def test_tier_errors(old: str, new: str, part: str) -> None:
    found = problems(policy_text().replace(old, new, 1))
    assert any(part in p for p in found), found


def test_limits_are_all_required() -> None:
    found = problems(policy_text().replace(", timeout: 30m", "", 1))
    assert any("tiers.untrusted.limits.timeout: required key 'timeout' is missing" in p
               for p in found)


def test_an_empty_policy_fails() -> None:
    assert problems("") == ["policy.yml:1:1: file is empty (start with `version: 1`)"]
