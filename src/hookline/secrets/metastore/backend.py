"""The metastore backend: connections in a SQL database, password and extra Fernet-encrypted.

The embedded default is SQLite at ``$HOOKLINE_HOME/hookline.db`` (created on first use, WAL mode);
PostgreSQL serves many workers (``postgresql+psycopg://...``). The schema is created and upgraded by
the Alembic migrations shipped in :mod:`hookline.secrets.metastore.migrations`, run programmatically on first use under
a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL); when the schema is already at
head, Alembic is not even imported.

Each row records the fingerprint of the key that encrypted it (``key_id``), so a wrong key is reported
precisely and :meth:`MetastoreBackend.rotate_keys` can resume where an interrupted run stopped. Every
write bumps a single-row change counter in the same transaction; caches in other processes poll
:meth:`MetastoreBackend.change_counter` to learn that something changed.

Reads take a raw driver connection from a small free list and run one prepared statement (a few
microseconds on SQLite); decrypted rows are cached keyed by their ciphertext, so a warm lookup does no
cryptography.

Nothing happens on construction with the default URL: SQLAlchemy (and the schema in
:mod:`hookline.secrets.metastore.schema`) is imported, the engines are created and the database file
is opened on first use, so a lookup answered by an earlier backend (the environment) costs nothing
here. :meth:`MetastoreBackend.change_counter_if_open` lets caches poll without opening the database.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    DecryptionError,
    InvalidConnection,
    MissingDependency,
)
from hookline.masking import is_sensitive_key
from hookline.secrets.base import SecretsBackend
from hookline.secrets.metastore.keys import (
    FERNET_KEY_ENV,
    KeyNotConfigured,
    KeyRing,
    hookline_home,
    load_keyring,
)
from hookline.secrets.metastore.migrations import HEAD_REVISION, SCRIPT_LOCATION

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Engine

    from hookline.secrets.metastore.schema import connection_table, metadata, state_table

__all__ = ["DB_FILE_NAME", "MetastoreBackend", "connection_table", "metadata", "state_table"]

log = logging.getLogger(__name__)

DB_FILE_NAME: Final = "hookline.db"
_ADVISORY_LOCK_KEY: Final = 0x686F6F6B6C696E65  # "hookline"
_CACHE_MAX_ENTRIES: Final = 4096

_SCHEMA_NAMES: Final = frozenset({"connection_table", "metadata", "state_table"})


def __getattr__(name: str) -> Any:
    """The SQLAlchemy schema objects, imported on first access (see the module docstring)."""
    if name in _SCHEMA_NAMES:
        from hookline.secrets.metastore import schema as _metastore_schema

        return getattr(_metastore_schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Reader:
    """One raw driver connection with its cursor, kept in the backend's free list."""

    __slots__ = ("conn", "cursor", "generation", "pid")

    def __init__(self, conn: Any, generation: int) -> None:
        self.conn = conn
        self.cursor = conn.cursor()
        self.generation = generation
        self.pid = os.getpid()

    def close(self) -> None:
        if self.pid != os.getpid():
            return  # inherited through fork: closing would end the parent's session
        try:
            self.conn.close()
        except Exception:  # closing a broken connection may fail; nothing to do
            log.debug("closing a metastore reader failed", exc_info=True)


def _close_readers(readers: list[_Reader]) -> None:
    while readers:
        try:
            reader = readers.pop()
        except IndexError:
            return
        reader.close()


def _normalize_url(url: str | URL) -> URL:
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:  # ValueError: a non-numeric port
        raise ConfigurationError(
            f"the metastore URL is not a valid SQLAlchemy URL: {exc}"
        ) from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    # The URL's password (and secrets passed as query parameters) are masked in all output.
    masking.register(parsed.password if isinstance(parsed.password, str) else None)
    for key, value in parsed.query.items():
        if is_sensitive_key(key):
            for item in (value,) if isinstance(value, str) else value:
                masking.register(item)
    return parsed


def _is_dbapi_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError)


class MetastoreBackend(SecretsBackend):
    """Connections in a SQL database (SQLite or PostgreSQL), password and extra encrypted with Fernet.

    Args:
        url: A SQLAlchemy URL; None for SQLite at ``<home>/hookline.db``. ``postgresql://`` means
            ``postgresql+psycopg://``.
        fernet_keys: Fernet keys (comma-separated or a sequence; the first encrypts). None: see
            :func:`hookline.secrets.metastore.keys.load_keyring` (``HOOKLINE_FERNET_KEY``, else ``<home>/fernet.key``).
        home: The hookline home (None: ``$HOOKLINE_HOME`` or ``~/.hookline``).
        connect_timeout_s: Connect timeout for network databases.
        read_pool_size: How many idle read connections to keep.
        **engine_kwargs: Passed to :func:`sqlalchemy.create_engine` for the write engine.

    Raises:
        ConfigurationError: a malformed URL or key.
        MissingDependency: the database driver is not installed.
    """

    name = "metastore"
    writable = True
    listable = True
    watchable = True

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        fernet_keys: str | Sequence[str] | None = None,
        home: str | os.PathLike[str] | None = None,
        connect_timeout_s: float = 5.0,
        read_pool_size: int = 8,
        **engine_kwargs: Any,
    ) -> None:
        self.home = hookline_home(home)
        self._fernet_keys = fernet_keys
        self._keyring: KeyRing | None = None
        if fernet_keys is not None:
            self._keyring = load_keyring(fernet_keys, self.home)
        self._default_db = url is None
        self._setup_lock = threading.Lock()
        self._set_up = False
        self._url: URL | None = None
        if url is None:  # SQLite at <home>/hookline.db: the URL is parsed on first use
            self.is_sqlite = True
            self._label = DB_FILE_NAME
        else:
            parsed = self._url = _normalize_url(url)
            self.is_sqlite = parsed.get_backend_name() == "sqlite"
            if self.is_sqlite:
                database = parsed.database or ""
                if database in {"", ":memory:"} or "mode=memory" in str(parsed):
                    raise ConfigurationError(
                        "the metastore needs a SQLite file, not an in-memory database"
                    )
                self._label = Path(database).name
            else:
                self._label = f"{parsed.host or 'localhost'}:{parsed.port or 'default'}/{parsed.database or ''}"
        self._connect_timeout_s = connect_timeout_s
        self._read_pool_size = read_pool_size
        self._engine_kwargs = engine_kwargs
        self._lock = threading.Lock()
        self._ready = False
        self._idle: list[_Reader] = []
        # Close idle read connections when the backend is garbage collected without close().
        weakref.finalize(self, _close_readers, self._idle)
        self._generation = 0
        self._pid = os.getpid()
        self._cache: dict[tuple[Any, ...], Connection] = {}
        if url is not None:  # an explicit URL: driver and engine errors surface here, as before
            self._setup()

    @property
    def url(self) -> URL:
        """The SQLAlchemy URL of the database (parsed on first access for the default SQLite file)."""
        url = self._url
        if url is None:
            with self._setup_lock:
                if self._url is None:
                    self._url = _normalize_url(f"sqlite:///{self.home / DB_FILE_NAME}")
                url = self._url
        return url

    # -- engines --------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Import SQLAlchemy, create the engines and compile the statements (once)."""
        url = self.url
        with self._setup_lock:
            if self._set_up:
                return
            from hookline.secrets.metastore import schema

            self._engine, self._read_engine = self._create_engines(url)
            dialect = self._read_engine.dialect
            self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
            self._positional = dialect.positional
            self._sql_one = str(schema.SELECT_ONE.compile(dialect=dialect))
            self._sql_all = str(schema.SELECT_ALL.compile(dialect=dialect))
            self._sql_counter = str(
                schema.SELECT_COUNTER.compile(
                    dialect=dialect, compile_kwargs={"literal_binds": True}
                )
            )
            self._sql_version = str(schema.SELECT_VERSION.compile(dialect=dialect))
            self._set_up = True

    def _create_engines(self, url: URL) -> tuple[Engine, Engine]:
        import sqlalchemy as sa
        from sqlalchemy import event
        from sqlalchemy.pool import NullPool

        kwargs = dict(self._engine_kwargs)
        connect_args = dict(kwargs.pop("connect_args", {}))
        if not self.is_sqlite and url.get_driver_name() == "psycopg":
            connect_args.setdefault("connect_timeout", max(1, round(self._connect_timeout_s)))
        try:
            if self.is_sqlite:
                kwargs.setdefault("poolclass", NullPool)
            else:
                kwargs.setdefault("pool_pre_ping", True)
            writer = sa.create_engine(url, connect_args=connect_args, **kwargs)
            reader = sa.create_engine(url, connect_args=connect_args, poolclass=NullPool)
        except ImportError as exc:
            raise MissingDependency(
                exc.name or "the database driver", "postgres", purpose="the metastore"
            ) from exc
        except (sa.exc.ArgumentError, TypeError) as exc:
            raise ConfigurationError(f"cannot create the metastore engine: {exc}") from None

        def on_connect_reader(dbapi_conn: Any, _record: Any) -> None:
            reader.dialect.set_isolation_level(dbapi_conn, "AUTOCOMMIT")

        event.listen(reader, "connect", on_connect_reader)
        if self.is_sqlite:
            # Real transactions on SQLite: the driver's implicit BEGIN is off; writers take the
            # write lock at once (BEGIN IMMEDIATE), so concurrent writers wait instead of failing.
            def on_connect_writer(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")

            def on_begin(conn: sa.Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            event.listen(writer, "connect", on_connect_writer)
            event.listen(writer, "begin", on_begin)
        return writer, reader

    def _error(self, exc: BaseException, action: str) -> BackendError | ConfigurationError:
        """Translate a driver error into a hookline error; the message never holds the password."""
        orig = getattr(exc, "orig", None) or exc
        detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        password = self.url.password
        if password:
            detail = detail.replace(str(password), "***")
        if self.is_sqlite:
            lowered = detail.lower()
            if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
                where = (
                    f"HOOKLINE_HOME ({self.home})"
                    if self._default_db
                    else f"the directory of {self.url.database}"
                )
                return ConfigurationError(
                    f"cannot {action} the SQLite metastore {self.url.database}: {detail}. Check that "
                    f"{where} exists and is a writable directory"
                )
            return BackendUnavailable(
                f"the SQLite metastore {self.url.database} failed to {action}: {detail}",
                backend=self.name,
            )
        return BackendUnavailable(
            f"the metastore at {self.url.host or 'localhost'}:{self.url.port or 'default'} "
            f"(database {self.url.database!r}, user {self.url.username!r}) failed to {action} "
            f"(connect timeout {self._connect_timeout_s:g} s): {detail}",
            backend=self.name,
        )

    # -- raw reads ------------------------------------------------------------------------------

    def _acquire(self) -> _Reader:
        if not self._set_up:
            self._setup()
        if os.getpid() != self._pid:  # forked: never share the parent's connections
            self._pid = os.getpid()
            self._idle.clear()  # the parent's connections: drop, never close (shared sockets)
            self._generation += 1
            self._engine.dispose(close=False)
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return _Reader(self._read_engine.raw_connection(), self._generation)
        except Exception as exc:
            if isinstance(exc, self._dbapi_error) or _is_dbapi_error(exc):
                raise self._error(exc, "connect") from exc
            raise

    def _release(self, reader: _Reader) -> None:
        if reader.generation == self._generation and len(self._idle) < self._read_pool_size:
            self._idle.append(reader)
        else:
            reader.close()

    def _read(self, sql: str, conn_id: str | None, *, many: bool = False) -> Any:
        """Run one SELECT on a pooled raw connection; retry once on a dropped connection."""
        if not self._set_up:
            self._setup()
        params: Any = None
        if conn_id is not None:
            params = (conn_id,) if self._positional else {"conn_id": conn_id}
        for attempt in (1, 2):
            reader = self._acquire()
            try:
                cursor = reader.cursor
                if params is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, params)
                result = cursor.fetchall() if many else cursor.fetchone()
            except self._dbapi_error as exc:
                dialect = self._read_engine.dialect
                try:
                    dbapi_conn = reader.conn.dbapi_connection
                    dropped = dialect.is_disconnect(exc, dbapi_conn, reader.cursor)  # type: ignore[arg-type]
                except Exception:  # a half-dead connection may fail to answer; treat it as dropped
                    dropped = True
                reader.close()
                if attempt == 1 and dropped:
                    continue
                raise self._error(exc, "read") from exc
            self._release(reader)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # -- schema ---------------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        if not self._set_up:
            self._setup()
        with self._lock:
            if self._ready:
                return
            if self._default_db:
                self._make_home()
            self._release(self._acquire())  # connection errors surface here, as "connect"
            if self.is_sqlite:
                self._read("PRAGMA journal_mode=WAL", None)
            try:
                version = self._read(self._sql_version, None)
            except BackendError:
                version = None  # no alembic_version table yet; connection errors resurface below
            if version is None or version[0] != HEAD_REVISION:
                self._migrate()
            self._ready = True

    def _make_home(self) -> None:
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create HOOKLINE_HOME {self.home} for the metastore: "
                f"{exc.strerror or type(exc).__name__}"
            ) from exc
        if not os.access(self.home, os.W_OK | os.X_OK):
            raise ConfigurationError(f"HOOKLINE_HOME {self.home} is not writable")

    def _migrate(self) -> None:
        import sqlalchemy as sa
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", SCRIPT_LOCATION)
        try:
            with self._engine.begin() as conn:
                if not self.is_sqlite:
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                    )
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.DBAPIError as exc:
            raise self._error(exc, "create or upgrade the schema of") from exc
        log.info("metastore %s schema is at revision %s", self._label, HEAD_REVISION)

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first use)."""
        if not self._set_up:
            self._setup()
        try:
            row = self._read(self._sql_version, None)
        except BackendError:
            return None
        return None if row is None else str(row[0])

    # -- keys and decoding ----------------------------------------------------------------------

    @property
    def keyring(self) -> KeyRing:
        """The key ring in use (loaded, and the key file generated, on first need)."""
        return self._load_keyring(create=True)

    def _load_keyring(self, *, create: bool) -> KeyRing:
        ring = self._keyring
        if ring is None:
            with self._lock:
                if self._keyring is None:
                    self._keyring = load_keyring(self._fernet_keys, self.home, create=create)
                ring = self._keyring
        return ring

    def _reading_keyring(self, conn_id: str) -> KeyRing:
        """The key ring for decrypting: a key generated now could not open existing rows."""
        try:
            return self._load_keyring(create=False)
        except KeyNotConfigured as exc:
            raise DecryptionError(
                f"cannot decrypt connection {conn_id!r}: {exc}. Set {FERNET_KEY_ENV} to the key "
                "that encrypted the metastore",
                conn_id=conn_id,
            ) from None

    def _decode(self, conn_id: str, row: tuple[Any, ...]) -> Connection:
        key = (conn_id, *row)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        conn_type, description, host, login, password, schema, port, extra, key_id = row
        if password is not None or extra is not None:
            ring = self._reading_keyring(conn_id)
            if password is not None:
                password = ring.decrypt(password, conn_id=conn_id, field="password", key_id=key_id)
            if extra is not None:
                extra = ring.decrypt(extra, conn_id=conn_id, field="extra", key_id=key_id)
        conn = Connection(
            conn_id=conn_id, conn_type=conn_type, description=description, host=host,
            login=login, password=password, schema=schema, port=port, extra=extra,
        )  # fmt: skip
        if len(self._cache) >= _CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = conn
        return conn

    def _lookup(self, conn_id: str) -> Connection | None:
        if not self._ready:
            self._ensure_ready()
        row = self._read(self._sql_one, conn_id)
        if row is None:
            return None
        conn = self._cache.get((conn_id, *row))
        return conn if conn is not None else self._decode(conn_id, tuple(row))

    # -- the backend contract -------------------------------------------------------------------

    def get_conn_value(self, conn_id: str) -> str | None:
        """The stored connection as JSON text (password included), or None when absent.

        Raises:
            BackendUnavailable: the database cannot be reached.
            DecryptionError: no configured key decrypts the stored password or extra.
            ConfigurationError: HOOKLINE_HOME cannot hold the SQLite database.
        """
        conn = self._lookup(conn_id)
        return None if conn is None else conn.to_json()

    def get_connection(self, conn_id: str) -> Connection | None:
        """The stored connection, or None when absent (same errors as :meth:`get_conn_value`)."""
        return self._lookup(conn_id)

    def lookup_keys(self, conn_id: str) -> list[str]:
        return [f"{self._label}:connection/{conn_id}"]

    def list_connections(self) -> Iterator[Connection]:
        """Every stored connection, ordered by conn_id."""
        if not self._ready:
            self._ensure_ready()
        rows = self._read(self._sql_all, None, many=True)
        for row in rows:
            yield self._decode(row[0], tuple(row[1:]))

    def change_counter(self) -> int:
        """A counter bumped in the same transaction as every write (cheap: one single-row read).

        Opens (and if needed creates) the database; see :meth:`change_counter_if_open`.
        """
        if not self._ready:
            self._ensure_ready()
        row = self._read(self._sql_counter, None)
        return 0 if row is None else int(row[0])

    def change_counter_if_open(self) -> int | None:
        """:meth:`change_counter`, or None while this backend has not opened its database yet.

        What caches poll: a process whose lookups were all answered by earlier backends never opens
        (or creates) the metastore, nor imports SQLAlchemy, just to watch it.
        """
        if not self._ready:
            return None
        return self.change_counter()

    def _write(self, action: str, work: Callable[[sa.Connection], Any]) -> Any:
        import sqlalchemy as sa

        if not self._ready:
            self._ensure_ready()
        try:
            with self._engine.begin() as conn:
                return work(conn)
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DBAPIError as exc:
            raise self._error(exc, action) from exc

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` (password and extra encrypted with the first key).

        Args:
            conn: The connection; it must have a conn_id.
            overwrite: Replace an existing connection of that id (else raise).

        Raises:
            InvalidConnection: no conn_id, or it exists and ``overwrite`` is False.
            BackendUnavailable: the database cannot be reached.
        """
        conn_id = conn.conn_id
        if conn_id is None:
            raise InvalidConnection("a connection needs a conn_id to be stored in the metastore")
        ring = self.keyring
        password = None if conn.password is None else ring.encrypt(conn.password)
        extra_text = conn.extra_json
        extra = None if extra_text is None else ring.encrypt(extra_text)
        values = {
            "conn_type": conn.conn_type, "description": conn.description, "host": conn.host,
            "login": conn.login, "password": password, "schema": conn.schema, "port": conn.port,
            "extra": extra,
            "key_id": ring.primary_fingerprint if password or extra else None,
        }  # fmt: skip
        import sqlalchemy as sa

        from hookline.secrets.metastore.schema import BUMP, connection_table

        _c = connection_table.c

        def work(db: sa.Connection) -> None:
            existing = db.execute(sa.select(_c.id).where(_c.conn_id == conn_id)).scalar()
            if existing is not None:
                if not overwrite:
                    raise InvalidConnection(
                        f"connection {conn_id!r} already exists in the metastore ({self._label}); "
                        "pass overwrite=True to replace it",
                        conn_id=conn_id,
                    )
                db.execute(connection_table.update().where(_c.id == existing).values(**values))
            else:
                db.execute(connection_table.insert().values(conn_id=conn_id, **values))
            db.execute(BUMP)

        try:
            self._write("store a connection in", work)
        except sa.exc.IntegrityError:  # a concurrent writer inserted the same id first
            self._write("store a connection in", work)

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id``; return whether it existed."""
        from hookline.secrets.metastore.schema import BUMP, connection_table

        def work(db: sa.Connection) -> bool:
            table = connection_table
            deleted = db.execute(table.delete().where(table.c.conn_id == conn_id)).rowcount
            if deleted:
                db.execute(BUMP)
            return bool(deleted)

        result: bool = self._write("delete a connection from", work)
        return result

    def rotate_keys(
        self,
        batch_size: int = 100,
        *,
        force: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Re-encrypt every row not yet under the first key, ``batch_size`` rows per transaction.

        Safe to interrupt at any point (even with SIGKILL): each batch commits on its own, a row holds
        either its old or its new ciphertext, both readable with the configured keys, and ``key_id``
        records which key each row is under, so a second run resumes where the first stopped.

        Args:
            batch_size: Rows per transaction.
            force: Re-encrypt rows already under the first key too (fresh tokens).
            progress: Called after each committed batch with the number of rows rotated so far.

        Returns:
            The number of rows re-encrypted.

        Raises:
            DecryptionError: a row cannot be decrypted with any configured key (earlier batches
                stay committed; add the missing key and run again).
        """
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        import sqlalchemy as sa

        from hookline.secrets.metastore.schema import connection_table

        _c = connection_table.c
        ring = self._load_keyring(create=False)
        primary = ring.primary_fingerprint
        query = sa.select(_c.id, _c.conn_id, _c.password, _c.extra, _c.key_id).where(
            sa.or_(_c.password.is_not(None), _c.extra.is_not(None)),
            _c.id > sa.bindparam("last_id"),
        )
        if not force:
            query = query.where(sa.or_(_c.key_id.is_(None), _c.key_id != primary))
        query = query.order_by(_c.id).limit(batch_size)
        if not self.is_sqlite:
            query = query.with_for_update()

        def batch(db: sa.Connection, *, last_id: int) -> tuple[int, int]:
            rows = db.execute(query, {"last_id": last_id}).all()
            for row in rows:
                row_id, conn_id, key_id = int(row[0]), str(row[1]), row[4]
                password: str | None = row[2]
                extra: str | None = row[3]
                if password is not None:
                    password = ring.rotate(
                        password, conn_id=conn_id, field="password", key_id=key_id
                    )
                if extra is not None:
                    extra = ring.rotate(extra, conn_id=conn_id, field="extra", key_id=key_id)
                db.execute(
                    connection_table.update()
                    .where(_c.id == row_id)
                    .values(password=password, extra=extra, key_id=primary)
                )
            return len(rows), (rows[-1][0] if rows else last_id)

        total, last_id = 0, 0
        while True:
            count, last_id = self._write(
                "re-encrypt connections in", partial(batch, last_id=last_id)
            )
            if not count:
                break
            total += count
            if progress is not None:
                progress(total)
        if total:
            log.info("re-encrypted %d connection(s) with key %s", total, primary)
        return total

    def close(self) -> None:
        """Close pooled connections; the backend reconnects if used again."""
        with self._lock:
            self._generation += 1
        _close_readers(self._idle)
        if self._set_up:
            self._engine.dispose()
            self._read_engine.dispose()

    def __repr__(self) -> str:
        url = masking.redact(self.url.render_as_string(hide_password=True))
        return f"MetastoreBackend(url={url!r})"
