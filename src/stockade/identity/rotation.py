"""When to make, retire and drop signing keys. Pure.

The newest active key signs. When it is older than the rotation period (or of another algorithm
than the setting) a new key is made and the old one retired; a retired key stays published until
the last token it can have signed expired (retired + max token lifetime), then it is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyState:
    kid: str
    alg: str
    created_at: float
    retired_at: float | None


@dataclass(frozen=True)
class RotationPlan:
    create: bool
    retire: tuple[str, ...]
    drop: tuple[str, ...]


def signer(keys: Sequence[KeyState]) -> KeyState | None:
    """The key that signs now: the newest active one."""
    active = [k for k in keys if k.retired_at is None]
    return max(active, key=lambda k: (k.created_at, k.kid)) if active else None


def plan(
    keys: Sequence[KeyState], *, now: float, alg: str, rotation_s: float, max_lifetime_s: float
) -> RotationPlan:
    """What to do with ``keys`` at ``now``."""
    current = signer(keys)
    create = current is None or current.alg != alg or now >= current.created_at + rotation_s
    # More than one active key happens when two servers rotated at once: keep the newest.
    retire = tuple(
        k.kid for k in keys
        if k.retired_at is None and (create or current is None or k.kid != current.kid)
    )
    drop = tuple(
        k.kid for k in keys if k.retired_at is not None and now >= k.retired_at + max_lifetime_s
    )
    return RotationPlan(create, retire, drop)


def published(keys: Sequence[KeyState], *, now: float, max_lifetime_s: float) -> list[KeyState]:
    """The keys in the JWKS: active ones, and retired ones whose tokens may still be valid."""
    return [k for k in keys if k.retired_at is None or now < k.retired_at + max_lifetime_s]
