"""Per-job egress: an allowlisting HTTP(S) forward proxy that knows nothing of the control plane.

Public surface:

- :class:`EgressProxy` (asyncio) and :class:`EgressThread` (the same on its own thread):
  ``register(listener, JobEgress, on_event)`` and ``unregister(job_id) -> JobCounters``;
- :class:`JobEgress`, :class:`Limits`, :class:`EgressEvent`, :class:`JobCounters`,
  :class:`Decision`, :class:`Reason`, :class:`EventKind`, :class:`EgressError` (interface);
- :class:`Allowlist`, :func:`parse_entry`, :func:`effective_allowlist` (allowlist syntax);
- :func:`check_address`, :func:`deny_range`, ``DEFAULT_DENY`` (the address deny list);
- :func:`log_line` (a denial's line for the job log), :func:`suggest` (audit mode);
- :func:`proxy_env` (the job's proxy environment variables);
- :func:`parse_client_hello` (the SNI reader, exposed for tests and tools).

See docs/egress.md.
"""

from __future__ import annotations

from .addresses import DEFAULT_DENY, AddressRange, check_address, deny_range
from .allowlist import Allowlist, Entry, effective_allowlist, parse_entry
from .env import proxy_env
from .events import log_line, suggest
from .interface import (
    INTERNAL_HOST,
    Decision,
    EgressError,
    EgressEvent,
    EventCallback,
    EventKind,
    InternalHandler,
    InvalidEntry,
    JobCounters,
    JobEgress,
    Limits,
    Reason,
    Resolver,
)
from .proxy import EgressProxy
from .runner import EgressThread
from .tls import HelloStatus, parse_client_hello

__all__ = [
    "DEFAULT_DENY",
    "INTERNAL_HOST",
    "AddressRange",
    "Allowlist",
    "Decision",
    "EgressError",
    "EgressEvent",
    "EgressProxy",
    "EgressThread",
    "Entry",
    "EventCallback",
    "EventKind",
    "HelloStatus",
    "InternalHandler",
    "InvalidEntry",
    "JobCounters",
    "JobEgress",
    "Limits",
    "Reason",
    "Resolver",
    "check_address",
    "deny_range",
    "effective_allowlist",
    "log_line",
    "parse_client_hello",
    "parse_entry",
    "proxy_env",
    "suggest",
]
