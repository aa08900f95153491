"""The root of Stockade's errors.

Every error a user can see is a :class:`StockadeError`: a one-line message, a hint that says what
would make it pass, a stable machine-readable ``code`` and, for errors that cross HTTP, a status.
Failures are either *permanent* (the input or the job is wrong; retrying cannot help) or
*retryable* (infrastructure; the queue may retry, and counts every retry).
"""

from __future__ import annotations


class StockadeError(Exception):
    """Base of all user-facing errors."""

    code: str = "error"
    status: int = 500
    retryable: bool = False

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, object]:
        """The JSON body used by the API for this error."""
        body: dict[str, object] = {
            "code": self.code,
            "message": self.message,
            "status": self.status,
        }
        if self.hint:
            body["hint"] = self.hint
        return body


class InvalidInput(StockadeError):
    """The caller's input is wrong (a file, a flag, an API body). Permanent."""

    code = "invalid_input"
    status = 400


class NotFound(StockadeError):
    code = "not_found"
    status = 404


class Conflict(StockadeError):
    code = "conflict"
    status = 409


class Unauthorized(StockadeError):
    code = "unauthorized"
    status = 401


class Forbidden(StockadeError):
    code = "forbidden"
    status = 403


class PolicyDenied(StockadeError):
    """Policy says no: fail closed, and the hint says what would make it pass."""

    code = "policy_denied"
    status = 403


class InfrastructureError(StockadeError):
    """Something under the job broke (runtime, host, network). May be retried, and is counted."""

    code = "infrastructure_error"
    status = 503
    retryable = True


class SandboxUnavailable(InfrastructureError):
    """A backend cannot give every guarantee here; it refuses to run rather than run with less."""

    code = "sandbox_unavailable"
    retryable = False


class LeftoverAlarm(InfrastructureError):
    """Teardown found something of a finished job still present. The executor refuses new jobs."""

    code = "sandbox_leftover"
    retryable = False
