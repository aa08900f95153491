"""Real servers come from the server tests' fixtures (one way to start them, shared)."""

from tests.integration.server.conftest import server_factory

__all__ = ["server_factory"]
