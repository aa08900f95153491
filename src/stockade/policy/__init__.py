"""The operator's policy: tiers, rules that classify events into them, caps, explanations."""

from stockade.policy.caps import job_limits
from stockade.policy.classify import (
    FAIL_CLOSED_TIER,
    Explanation,
    RuleCheck,
    classify,
    describe_match,
    explain,
)
from stockade.policy.events import EventError, load_event, load_event_file
from stockade.policy.loader import (
    PolicyError,
    default_policy_path,
    load_policy,
    load_policy_file,
    policy_hash,
)
from stockade.policy.schema import Event
from stockade.policy.values import TIER_ORDER, Decision, Egress, Limits, Policy, Rule, Tier

__all__ = [
    "FAIL_CLOSED_TIER",
    "TIER_ORDER",
    "Decision",
    "Egress",
    "Event",
    "EventError",
    "Explanation",
    "Limits",
    "Policy",
    "PolicyError",
    "Rule",
    "RuleCheck",
    "Tier",
    "classify",
    "default_policy_path",
    "describe_match",
    "explain",
    "job_limits",
    "load_event",
    "load_event_file",
    "load_policy",
    "load_policy_file",
    "policy_hash",
]
