"""The SQL store: tables, migrations, the job state machine, and the queries the server uses.

SQLite in WAL mode by default; portable SQL throughout so PostgreSQL can follow.
"""

from stockade.store.database import Database, open_database
from stockade.store.states import JobStatus, RunStatus

__all__ = ["Database", "JobStatus", "RunStatus", "open_database"]
