"""Builders for policy tests: a small valid policy to edit, and events."""

from __future__ import annotations

import textwrap

from stockade.policy import Event

TIERS = textwrap.dedent("""\
    tiers:
      untrusted:
        pool: untrusted
        limits: {cpus: 1, memory: 1Gi, pids: 512, disk: 2Gi, timeout: 30m}
      trusted:
        pool: trusted
        limits: {cpus: 2, memory: 4Gi, pids: 1024, disk: 8Gi, timeout: 1h}
        egress: [pypi.org]
      release:
        pool: release
        limits: {cpus: 2, memory: 4Gi, pids: 1024, disk: 8Gi, timeout: 2h}
        requires_approval: true
    """)


def policy_text(rules: str = "rules: []\n") -> str:
    """A valid policy with ``rules`` (YAML text starting with ``rules:``)."""
    return "version: 1\n" + TIERS + textwrap.dedent(rules)


def event(**fields: object) -> Event:
    """An event with sensible defaults: a push to main of acme/app."""
    base: dict[str, object] = {
        "event": "push", "repository": "acme/app", "ref": "refs/heads/main", "sha": "a" * 40,
    }
    return Event.model_validate(base | fields)
