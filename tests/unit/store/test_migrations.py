"""Migrations create exactly the tables the code uses, on a real SQLite file in WAL mode."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stockade.store.database import open_database
from stockade.store.schema import metadata


def test_migrated_schema_matches_the_tables_in_code(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_opening_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_database(url).dispose()
    db = open_database(url)
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0003"


def test_the_database_file_is_private(tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path / 'x.db'}").dispose()
    for name in ("x.db", "x.db-wal", "x.db-shm"):
        path = tmp_path / name
        if path.exists():
            assert path.stat().st_mode & 0o077 == 0, name
