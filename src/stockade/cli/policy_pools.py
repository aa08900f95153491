"""Which policy file a local Stockade uses, and which pools its agents must serve."""

from __future__ import annotations

from pathlib import Path

from stockade.config import Settings
from stockade.policy import TIER_ORDER, Policy, default_policy_path, load_policy_file


def resolve_policy_file(explicit: Path | None, settings: Settings) -> str:
    """``--policy``, else settings (STOCKADE_POLICY_FILE), else $STOCKADE_HOME/policy.yml, else
    the packaged default. Loaded once here so a broken policy fails before anything starts."""
    if explicit is not None:
        path = explicit.absolute()
    elif settings.policy_file:
        path = Path(settings.policy_file).absolute()
    elif (settings.home / "policy.yml").is_file():
        path = settings.home / "policy.yml"
    else:
        path = default_policy_path()
    load_policy_file(path)  # PolicyError (exit 2) with file:line:col
    return str(path)


def policy(path: str) -> Policy:
    return load_policy_file(Path(path))


def all_pools(path: str) -> list[str]:
    """One pool per tier, lowest trust first."""
    tiers = policy(path).tiers
    return [tiers[name].pool for name in TIER_ORDER if name in tiers]


def pools_for_run(path: str, tier: str) -> list[str]:
    """The pools a run of ``tier`` may use: its own and those of the lower tiers (a job may ask
    for a lower tier, never a higher one)."""
    tiers = policy(path).tiers
    if tier not in TIER_ORDER:
        return [tiers[name].pool for name in TIER_ORDER if name in tiers]
    return [tiers[name].pool for name in TIER_ORDER[: TIER_ORDER.index(tier) + 1] if name in tiers]
