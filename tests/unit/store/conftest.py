"""A real SQLite database file (WAL mode), migrated, per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.store.database import Database, open_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'stockade.db'}")
    yield database
    database.dispose()
