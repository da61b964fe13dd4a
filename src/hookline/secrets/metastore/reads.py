"""Raw reads of the metastore: a small free list of driver connections, each knowing its schema revision.

SQLite is read with the stdlib :mod:`sqlite3` (no SQLAlchemy, no Alembic: a fresh process's first
lookup costs a few milliseconds, not hundreds), opened **read-only** (``mode=ro``), so reads work on a
read-only ``HOOKLINE_HOME`` and never create or migrate anything. When SQLite cannot open a WAL
database read-only because nobody has it open and the directory does not let it create the
``-shm`` file, the reader opens it ``immutable`` for that one read (never pooled; refused while an
uncheckpointed ``-wal`` file exists, which an immutable reader would ignore).

PostgreSQL is read through raw connections of a SQLAlchemy engine (the driver is psycopg).

Each connection asks the schema revision once (``SELECT version_num FROM alembic_version``) and runs
the SELECT of that revision's row layout (:mod:`hookline.secrets.metastore.rows`). A connection that saw
an older layout, or no schema yet, asks again before each read, so a migration by another process is
never misread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from hookline.exceptions import BackendError, BackendUnavailable, ConfigurationError
from hookline.secrets.metastore.migrations import HEAD_REVISION
from hookline.secrets.metastore.rows import (
    LEGACY_REVISIONS,
    select_all_sql,
    select_one_sql,
)

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.engine import Engine

__all__ = [
    "KNOWN_REVISIONS",
    "NO_VARIABLES_REVISIONS",
    "DriverOpener",
    "Reader",
    "ReaderPool",
    "SqliteOpener",
]

log = logging.getLogger(__name__)

KNOWN_REVISIONS: Final = frozenset({*LEGACY_REVISIONS, "0002", "0003", HEAD_REVISION})
#: Revisions without the ``variable`` table (0003 added it).
NO_VARIABLES_REVISIONS: Final = frozenset({*LEGACY_REVISIONS, "0002"})
VERSION_SQL: Final = "SELECT version_num FROM alembic_version"
COUNTER_SQL: Final = "SELECT change_counter FROM hookline_state WHERE id = 1"
COUNT_SQL: Final = "SELECT count(*) FROM connection"


class Reader:
    """One raw driver connection with its cursor and the SQL of its database's row layout.

    Attributes:
        revision: The schema revision seen, or None when the database has no schema yet.
        recheck: Ask the revision again before each read (older layout, or no schema yet).
        pooled: Whether the connection may go back to the free list.
    """

    __slots__ = (
        "conn",
        "cursor",
        "generation",
        "pid",
        "placeholder",
        "pooled",
        "recheck",
        "revision",
        "sql_all",
        "sql_one",
    )  # fmt: skip

    def __init__(
        self, conn: Any, generation: int, placeholder: str, *, pooled: bool = True
    ) -> None:
        self.conn = conn
        self.cursor = conn.cursor()
        self.generation = generation
        self.pid = os.getpid()
        self.placeholder = placeholder
        self.pooled = pooled
        self.revision: str | None = None
        self.recheck = True
        self.sql_one = ""
        self.sql_all = ""

    def set_revision(self, revision: str | None, database: str) -> None:
        """Record the revision the database is at and pick the SQL of its layout.

        Raises:
            ConfigurationError: an unknown (newer) revision.
        """
        if revision is not None and revision not in KNOWN_REVISIONS:
            raise ConfigurationError(
                f"the metastore {database} is at schema revision {revision!r}, which this version "
                f"of hookline does not know (it knows up to {HEAD_REVISION}): upgrade hookline "
                "on this machine"
            )
        if revision != self.revision or not self.sql_one:
            self.revision = revision
            if revision is not None:
                self.sql_one = select_one_sql(revision, self.placeholder)
                self.sql_all = select_all_sql(revision)
        self.recheck = revision != HEAD_REVISION

    def close(self) -> None:
        """Close the connection (not one inherited through fork: that would end the parent's)."""
        if self.pid != os.getpid():
            return
        try:
            self.conn.close()
        except Exception:  # closing a broken connection may fail; nothing to do
            log.debug("closing a metastore reader failed", exc_info=True)


def close_readers(readers: list[Reader]) -> None:
    """Close and remove every reader of a free list (safe against concurrent pops)."""
    while readers:
        try:
            reader = readers.pop()
        except IndexError:
            return
        reader.close()


class ReaderPool:
    """A free list of :class:`Reader` objects over a ``connect`` callable.

    Args:
        connect: Opens a reader for ``generation``; returns None when the database does not exist
            (nothing to read: every lookup is absent).
        size: How many idle readers to keep.
    """

    def __init__(self, connect: Callable[[int], Reader | None], size: int) -> None:
        self._connect = connect
        self._size = size
        self.idle: list[Reader] = []
        self.generation = 0
        self._pid = os.getpid()

    def acquire(self) -> Reader | None:
        """An idle reader, or a new one; None when there is no database to read."""
        if os.getpid() != self._pid:  # forked: never share the parent's connections
            self._pid = os.getpid()
            self.idle.clear()  # the parent's connections: drop, never close (shared sockets)
            self.generation += 1
        try:
            return self.idle.pop()
        except IndexError:
            return self._connect(self.generation)

    def release(self, reader: Reader) -> None:
        """Keep ``reader`` for the next read, or close it."""
        if reader.pooled and reader.generation == self.generation and len(self.idle) < self._size:
            self.idle.append(reader)
        else:
            reader.close()

    def close(self) -> None:
        """Close every idle reader; readers in use are closed when released."""
        self.generation += 1
        close_readers(self.idle)


class SqliteOpener:
    """Opens read-only stdlib :mod:`sqlite3` readers of one database file.

    Args:
        path: The database file.
        busy_timeout_s: How long a read waits for a lock (rare in WAL mode: recovery, checkpoints).
    """

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self.path = path
        self._uri = f"file:{quote(str(path))}?mode=ro"
        self._busy_timeout_s = busy_timeout_s

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The driver's error classes (evaluated only when an exception is being matched)."""
        import sqlite3

        return (sqlite3.Error,)

    def __call__(self, generation: int) -> Reader | None:
        if not self.path.exists():
            return None
        import sqlite3  # here, not at module import: a lookup answered by env never loads it

        try:
            reader = self._open(self._uri, generation, pooled=True)
        except sqlite3.OperationalError as exc:
            if not self._needs_immutable(exc):
                raise self.error(exc, "open") from exc
            reader = self._open_immutable(generation)
        except sqlite3.Error as exc:
            raise self.error(exc, "open") from exc
        return reader

    def _open(self, uri: str, generation: int, *, pooled: bool) -> Reader:
        import sqlite3

        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=self._busy_timeout_s,
            isolation_level=None,  # autocommit: each SELECT sees the latest commit
            check_same_thread=False,  # the free list hands a reader to one thread at a time
        )
        reader = Reader(conn, generation, "?", pooled=pooled)
        try:
            reader.set_revision(self.revision(reader), str(self.path))
        except BaseException:
            conn.close()
            raise
        return reader

    def _needs_immutable(self, exc: sqlite3.OperationalError) -> bool:
        text = str(exc).lower()
        read_only = "readonly" in text or "unable to open" in text
        return read_only and not os.access(self.path.parent, os.W_OK)

    def _open_immutable(self, generation: int) -> Reader:
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            pending = wal.stat().st_size > 0
        except OSError:
            pending = False
        if pending:
            raise ConfigurationError(
                f"cannot read the SQLite metastore {self.path}: its directory is read-only and "
                f"{wal.name} holds changes not yet written to the database. Open it once with "
                "write access (any hookline write, or `sqlite3 FILE 'PRAGMA wal_checkpoint'`)"
            )
        import sqlite3

        try:
            return self._open(self._uri + "&immutable=1", generation, pooled=False)
        except sqlite3.Error as exc:
            raise self.error(exc, "open") from exc

    @staticmethod
    def revision(reader: Reader) -> str | None:
        """The schema revision (None: no schema yet). One query."""
        import sqlite3

        try:
            reader.cursor.execute(VERSION_SQL)
        except sqlite3.OperationalError as exc:
            if str(exc).startswith("no such table"):
                return None
            raise
        row = reader.cursor.fetchone()
        return None if row is None else str(row[0])

    def dropped(self, exc: BaseException, reader: Reader) -> bool:
        """A local file never drops its connection."""
        return False

    def error(self, exc: BaseException, action: str) -> BackendError | ConfigurationError:
        """Translate a :mod:`sqlite3` error of a read."""
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        lowered = detail.lower()
        if "unable to open" in lowered or "readonly" in lowered or "not a database" in lowered:
            return ConfigurationError(
                f"cannot {action} the SQLite metastore {self.path}: {detail}. Check that it is a "
                "hookline database and that this user can read it and its directory"
            )
        return BackendUnavailable(
            f"the SQLite metastore {self.path} failed to {action}: {detail}", backend="metastore"
        )


class DriverOpener:
    """Opens readers on raw autocommit connections of a SQLAlchemy engine (PostgreSQL).

    Args:
        engine: Returns the read engine (created on first need).
        label: How errors name the database.
        translate: Turns a driver error into a hookline error.
    """

    def __init__(
        self,
        engine: Callable[[], Engine],
        label: str,
        translate: Callable[[BaseException, str], BackendError | ConfigurationError],
    ) -> None:
        self._engine = engine
        self._label = label
        self.error = translate
        self.errors: tuple[type[BaseException], ...] = (engine().dialect.loaded_dbapi.Error,)

    def __call__(self, generation: int) -> Reader:
        from sqlalchemy.exc import DBAPIError

        try:
            reader = Reader(self._engine().raw_connection(), generation, "%s")
        except Exception as exc:
            if isinstance(exc, (DBAPIError, *self.errors)):
                raise self.error(exc, "connect") from exc
            raise
        try:
            reader.set_revision(self.revision(reader), self._label)
        except BaseException:
            reader.close()
            raise
        return reader

    def revision(self, reader: Reader) -> str | None:
        """The schema revision (None: no schema yet). One query."""
        try:
            reader.cursor.execute(VERSION_SQL)
        except self.errors as exc:
            if getattr(exc, "sqlstate", None) == "42P01":  # undefined_table: no schema yet
                return None
            raise
        row = reader.cursor.fetchone()
        return None if row is None else str(row[0])

    def dropped(self, exc: BaseException, reader: Reader) -> bool:
        """Whether ``exc`` means the server closed the connection (worth one retry)."""
        try:
            dialect = self._engine().dialect
            dbapi_conn = reader.conn.dbapi_connection
            return bool(dialect.is_disconnect(exc, dbapi_conn, reader.cursor))  # type: ignore[arg-type]
        except Exception:  # a half-dead connection may fail to answer; treat it as dropped
            return True
