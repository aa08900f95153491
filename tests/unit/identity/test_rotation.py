"""Rotation: a new key when due, the old one published until its last token expired."""

from __future__ import annotations

from stockade.identity.rotation import KeyState, plan, published, signer

DAY = 86400.0


def test_the_first_start_makes_a_key() -> None:
    todo = plan([], now=0, alg="ES256", rotation_s=7 * DAY, max_lifetime_s=600)
    assert todo.create and not todo.retire and not todo.drop


def test_a_key_within_its_period_is_kept() -> None:
    keys = [KeyState("a", "ES256", 0, None)]
    todo = plan(keys, now=DAY, alg="ES256", rotation_s=7 * DAY, max_lifetime_s=600)
    assert not todo.create and not todo.retire and not todo.drop


def test_a_due_key_is_retired_and_a_new_one_made() -> None:
    keys = [KeyState("a", "ES256", 0, None)]
    todo = plan(keys, now=7 * DAY, alg="ES256", rotation_s=7 * DAY, max_lifetime_s=600)
    assert todo.create and todo.retire == ("a",)


def test_changing_the_algorithm_rotates() -> None:
    keys = [KeyState("a", "ES256", 0, None)]
    assert plan(keys, now=1, alg="RS256", rotation_s=7 * DAY, max_lifetime_s=600).create


def test_an_old_key_stays_published_until_its_last_token_expired_then_leaves() -> None:
    retired_at = 7 * DAY
    keys = [KeyState("old", "ES256", 0, retired_at), KeyState("new", "ES256", retired_at, None)]
    assert signer(keys) == keys[1]
    for now in (retired_at, retired_at + 599):
        assert [k.kid for k in published(keys, now=now, max_lifetime_s=600)] == ["old", "new"]
        assert plan(keys, now=now, alg="ES256", rotation_s=7 * DAY, max_lifetime_s=600).drop == ()
    assert [k.kid for k in published(keys, now=retired_at + 600, max_lifetime_s=600)] == ["new"]
    todo = plan(keys, now=retired_at + 600, alg="ES256", rotation_s=7 * DAY, max_lifetime_s=600)
    assert todo.drop == ("old",) and not todo.create


def test_two_servers_rotating_at_once_leave_one_signer() -> None:
    keys = [KeyState("a", "ES256", 10, None), KeyState("b", "ES256", 11, None)]
    todo = plan(keys, now=12, alg="ES256", rotation_s=DAY, max_lifetime_s=600)
    assert todo.retire == ("a",) and not todo.create
    assert signer(keys) == keys[1]
