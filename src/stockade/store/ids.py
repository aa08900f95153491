"""Typed ids for the store's rows: random, prefixed so a log line says what it names."""

from __future__ import annotations

import secrets
from typing import NewType

RunId = NewType("RunId", str)
JobId = NewType("JobId", str)
AgentId = NewType("AgentId", str)
LeaseId = NewType("LeaseId", str)
TokenId = NewType("TokenId", str)


def new_id(prefix: str) -> str:
    """A fresh id such as ``run_3f9a...``: 16 random hex digits after the prefix."""
    return f"{prefix}_{secrets.token_hex(8)}"
