"""Structured JSON-lines logs for every Stockade process: ids on every line, never a secret.

The server and the agent both configure logging through here (they may not import each other).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = frozenset(
    {"token", "credential", "registration_token", "authorization", "secret", "webhook_secret"}
)


def _drop_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Belt and braces: a secret bound to a logger by mistake is still never written out.
    for key in _SECRET_KEYS & event.keys():
        event[key] = "[masked]"
    return event


def configure(level: int = logging.INFO) -> None:
    """Route structlog to stderr as one JSON object per line."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
