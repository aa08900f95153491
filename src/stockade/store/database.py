"""The database handle: one engine, write and read transactions, migrations on open.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on. Its Python driver
starts transactions lazily, which would let a read and the write that depends on it see different
data; so the driver's own transaction handling is switched off and every write transaction starts
with ``BEGIN IMMEDIATE`` (writers queue on the busy timeout instead of failing midway). Reads use a
plain ``BEGIN`` and see one consistent snapshot. Other databases use their normal transactions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "stockade_sqlite_begin"


def _create_private(path: Path) -> None:
    """Create the database file readable by this user only; SQLite gives its -wal and -shm
    files the same mode. It holds token digests and job logs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode across process crashes
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """Where the store's functions get their transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._writer: sa.Engine
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _create_private(Path(parsed.database))
            self.engine = _sqlite_engine(url)
            self._writer = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            # SQLite admits one writer at a time anyway; queueing this process's writers on a
            # lock avoids SQLite's busy handler, which sleeps in steps of up to 100 ms.
            self._write_lock: threading.Lock | None = threading.Lock()
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
            self._writer = self.engine
            self._write_lock = None

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        if self._write_lock is None:
            with self._writer.begin() as conn:
                yield conn
            return
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """One read-only transaction over a consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``)."""
        with self.write() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the packaged migrations; no alembic.ini needed."""
    cfg = Config()
    location = resources.files("stockade.store") / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def open_database(url: str) -> Database:
    """Open the database at ``url`` and migrate it to the newest schema."""
    db = Database(url)
    db.migrate()
    return db
