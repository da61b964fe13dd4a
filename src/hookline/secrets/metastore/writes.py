"""The metastore's write side: SQLAlchemy engines, transactions with bounded lock retries, migrations.

Imported on the first write (or the first PostgreSQL read), never by a SQLite lookup.

* SQLite writers take the write lock at once (``BEGIN IMMEDIATE``) and wait for it up to the busy
  timeout; when SQLite still answers "database is locked", the whole transaction (rolled back, so
  re-running it is safe) is tried again with backoff until ``lock_timeout_s`` has passed, then a
  :class:`~hookline.exceptions.BackendUnavailable` says who to look for and what to do.
* PostgreSQL writers serialize on a transaction-scoped advisory lock, so the key check that every
  write makes (see :mod:`hookline.secrets.metastore.backend`) cannot race with another machine's
  first write.
* Schema migrations run under the same locks (``BEGIN IMMEDIATE`` / the advisory lock).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from hookline.exceptions import (
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    InvalidConnection,
    MissingDependency,
)
from hookline.secrets.metastore.migrations import HEAD_REVISION, SCRIPT_LOCATION

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["ADVISORY_LOCK_KEY", "Writer"]

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY: Final = 0x686F6F6B6C696E65  # "hookline"
_MAX_BUSY_WAIT_S: Final = 5.0
_T = TypeVar("_T")


def _is_locked(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database table is locked" in text


def _nul_field(exc: BaseException) -> bool:
    return "nul (0x00)" in str(getattr(exc, "orig", exc)).lower()


class Writer:
    """The write engine of one metastore, and its transactions.

    Args:
        url: The database URL.
        path: The SQLite file, or None for a network database.
        where: For SQLite errors: the directory to check ("HOOKLINE_HOME (...)").
        label: How errors name the database.
        connect_timeout_s: Connect timeout for network databases.
        lock_timeout_s: How long a SQLite write waits for the write lock in all (retries included).
        engine_kwargs: Passed to :func:`sqlalchemy.create_engine`.
    """

    def __init__(
        self,
        url: URL,
        *,
        path: Path | None,
        where: str,
        label: str,
        connect_timeout_s: float,
        lock_timeout_s: float,
        engine_kwargs: dict[str, Any],
    ) -> None:
        self.url = url
        self.path = path
        self.is_sqlite = path is not None
        self._where = where
        self.label = label
        self.lock_timeout_s = lock_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self.engine = self._create_engine(url, connect_timeout_s, dict(engine_kwargs))

    def error(self, exc: BaseException, action: str) -> BackendError | ConfigurationError:
        """Translate a driver error into a hookline error; the message never holds the password."""
        orig = getattr(exc, "orig", None) or exc
        detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        if self.path is not None:
            lowered = detail.lower()
            if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
                return ConfigurationError(
                    f"cannot {action} the SQLite metastore {self.path}: {detail}. Check that "
                    f"{self._where} exists and is a writable directory"
                )
            return BackendUnavailable(
                f"the SQLite metastore {self.path} failed to {action}: {detail}",
                backend="metastore",
            )
        url = self.url
        if url.password:
            detail = detail.replace(str(url.password), "***")
        return BackendUnavailable(
            f"the metastore at {url.host or 'localhost'}:{url.port or 'default'} "
            f"(database {url.database!r}, user {url.username!r}) failed to {action} "
            f"(connect timeout {self._connect_timeout_s:g} s): {detail}",
            backend="metastore",
        )

    def _create_engine(self, url: URL, connect_timeout_s: float, kwargs: dict[str, Any]) -> Engine:
        connect_args = dict(kwargs.pop("connect_args", {}))
        if self.is_sqlite:
            connect_args.setdefault("timeout", min(_MAX_BUSY_WAIT_S, self.lock_timeout_s))
            kwargs.setdefault("poolclass", NullPool)
        else:
            kwargs.setdefault("pool_pre_ping", True)
            if url.get_driver_name() == "psycopg":
                connect_args.setdefault("connect_timeout", max(1, round(connect_timeout_s)))
        try:
            engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
        except ImportError as exc:
            raise MissingDependency(
                exc.name or "the database driver", "postgres", purpose="the metastore"
            ) from exc
        except (sa.exc.ArgumentError, TypeError) as exc:
            raise ConfigurationError(f"cannot create the metastore engine: {exc}") from None
        self._connect_args = connect_args
        if self.is_sqlite:
            # Real transactions on SQLite: the driver's implicit BEGIN is off; writers take the
            # write lock at once (BEGIN IMMEDIATE), so concurrent writers wait instead of failing.
            def on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")
                # Replaced and deleted content is zeroed, not left in free pages of the file.
                dbapi_conn.execute("PRAGMA secure_delete=ON")

            def on_begin(conn: sa.Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            event.listen(engine, "connect", on_connect)
            event.listen(engine, "begin", on_begin)
        return engine

    def transaction(self, action: str, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in one transaction; retry it while SQLite stays locked, within the bound.

        Raises:
            BackendUnavailable: the database cannot be reached, or stayed locked too long.
            InvalidConnection: a value the database refuses (a NUL character).
            sqlalchemy.exc.IntegrityError: a constraint failed (the caller decides).
        """
        deadline = time.monotonic() + self.lock_timeout_s
        attempts = 0
        while True:
            attempts += 1
            try:
                with self.engine.begin() as db:
                    if not self.is_sqlite:
                        db.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": ADVISORY_LOCK_KEY},
                        )
                    return work(db)
            except sa.exc.IntegrityError:
                raise
            except sa.exc.OperationalError as exc:
                if not (self.is_sqlite and _is_locked(exc)):
                    raise self.error(exc, action) from exc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BackendUnavailable(
                        f"the SQLite metastore {self.label} stayed locked by another writer for "
                        f"{self.lock_timeout_s:g} s ({attempts} attempts) while trying to {action} "
                        "it; nothing was written. Another process holds a long write transaction "
                        "(an import or `keys rotate`?): retry when it is done, raise "
                        "lock_timeout_s, or use PostgreSQL for many concurrent writers",
                        backend="metastore",
                    ) from exc
                log.debug("metastore %s locked (attempt %d); retrying", self.label, attempts)
                time.sleep(min(remaining, random.uniform(0.005, 0.05) * min(attempts, 10)))  # noqa: S311 - jitter
            except sa.exc.DBAPIError as exc:
                if _nul_field(exc):
                    raise InvalidConnection(
                        "a value contains a NUL character (\\x00), which the metastore does not "
                        "store; remove it"
                    ) from None
                raise self.error(exc, action) from exc

    def revision(self) -> str | None:
        """The schema revision, read through the write engine (None: no schema yet). On SQLite a
        plain autocommit read, which takes no write lock."""

        def read(db: sa.Connection) -> str | None:
            if not sa.inspect(db).has_table("alembic_version"):
                return None
            value = db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            return None if value is None else str(value)

        if not self.is_sqlite:
            return self.transaction("read the schema revision of", read)
        try:
            raw = self.engine.raw_connection()  # autocommit (see on_connect): no BEGIN IMMEDIATE
            try:
                cursor = raw.cursor()
                cursor.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                )
                found = cursor.fetchone()
                if not found or not found[0]:
                    return None
                cursor.execute("SELECT version_num FROM alembic_version")
                row = cursor.fetchone()
            finally:
                raw.close()
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            raise self.error(exc, "read the schema revision of") from exc
        return None if row is None else str(row[0])

    def migrate(self) -> None:
        """Upgrade the schema to the head revision (under the write lock)."""
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        config = Config()
        config.set_main_option("script_location", SCRIPT_LOCATION)

        def upgrade(db: sa.Connection) -> None:
            config.attributes["connection"] = db
            command.upgrade(config, "head")

        try:
            self.transaction("create or upgrade the schema of", upgrade)
        except CommandError as exc:
            raise ConfigurationError(
                f"cannot upgrade the schema of the metastore {self.label} to revision "
                f"{HEAD_REVISION}: {exc}. Is it at a revision of a newer hookline?"
            ) from None
        log.info("metastore %s schema is at revision %s", self.label, HEAD_REVISION)

    def prepare_sqlite(self) -> None:
        """Put the SQLite database in WAL mode (persistent; needs write access once)."""
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                raw = self.engine.raw_connection()  # autocommit (see on_connect): no BEGIN
                try:
                    raw.cursor().execute("PRAGMA journal_mode=WAL")
                finally:
                    raw.close()
                return
            except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
                if not _is_locked(exc) or time.monotonic() >= deadline:
                    raise self.error(exc, "open") from exc
                time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - jitter

    def truncate_wal(self) -> None:
        """Copy the WAL into the database and empty it (after rewriting rows that held plaintext:
        older page images in the WAL would still hold it). Best effort: a busy WAL stays."""
        if not self.is_sqlite:
            return
        try:
            raw = self.engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        except (sa.exc.DBAPIError, sqlite3.Error):
            log.debug("WAL checkpoint of %s failed", self.label, exc_info=True)

    def read_engine(self) -> Engine:
        """A separate engine for raw reads: no pool (the backend keeps its own free list), and
        autocommit, so each SELECT sees the latest commit and holds no transaction open."""
        engine = sa.create_engine(self.url, connect_args=self._connect_args, poolclass=NullPool)

        def on_connect(dbapi_conn: Any, _record: Any) -> None:
            engine.dialect.set_isolation_level(dbapi_conn, "AUTOCOMMIT")

        event.listen(engine, "connect", on_connect)
        return engine

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
