"""Structured JSON-lines logs for the agent: ids on every line, never a credential."""

from __future__ import annotations

from typing import Any

import structlog

from stockade.jsonlog import configure

__all__ = ["configure", "get_logger"]


def get_logger(**ids: object) -> Any:
    """A logger bound to ``ids`` (pool, agent id, job id, lease id ...)."""
    return structlog.get_logger("stockade.agent").bind(**ids)
