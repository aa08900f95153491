"""The registry of sandbox backends by name, and their verdicts on this host."""

from __future__ import annotations

from stockade.errors import InvalidInput
from stockade.sandbox.backend import Backend, Verdict

BACKENDS = ("crun", "runc", "runsc", "bwrap")


def make_backend(name: str) -> Backend:
    """A backend object by name (not yet checked: call ``check()`` for the verdict)."""
    if name in ("crun", "runc", "runsc"):
        from stockade.sandbox.oci_runtime import OciRuntimeBackend

        backend: Backend = OciRuntimeBackend(name)
        return backend
    if name == "bwrap":
        from stockade.sandbox.bwrap import BwrapBackend

        return BwrapBackend()
    raise InvalidInput(f"unknown sandbox backend {name!r}",
                       hint=f"use one of {', '.join(BACKENDS)}")


def verdicts() -> list[Verdict]:
    """Every backend's self-check on this host."""
    return [make_backend(name).check() for name in BACKENDS]
