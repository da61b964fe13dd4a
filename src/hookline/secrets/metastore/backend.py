"""The metastore backend: connections in a SQL database, every credential-bearing field Fernet-encrypted.

The embedded default is SQLite at ``$HOOKLINE_HOME/hookline.db`` (created mode 0600 on the first
write, WAL mode); PostgreSQL serves many machines (``postgresql+psycopg://...``).

* **Reads** (:mod:`~hookline.secrets.metastore.reads`) of SQLite use the stdlib :mod:`sqlite3`,
  read-only: no SQLAlchemy, no Alembic, nothing created, and they work on a read-only home. A
  database that does not exist yet holds nothing (every lookup is absent).
* **Writes** (:mod:`~hookline.secrets.metastore.writes`) use SQLAlchemy; the first one creates the
  home (0700) and the database file (0600) and runs the Alembic migrations under a lock. Every write
  bumps a single-row change counter in the same transaction; caches in other processes poll
  :meth:`MetastoreBackend.change_counter` to learn that something changed. :meth:`set_connections`
  stores many connections in one transaction (all or nothing, even under SIGKILL).
* **Rows** (:mod:`~hookline.secrets.metastore.rows`): host, login, password, schema, description and
  extra live in one Fernet token per row, with the fingerprint of its key (``key_id``), so a wrong key
  is reported precisely and :meth:`MetastoreBackend.rotate_keys` can resume where it stopped.

Keys (:mod:`~hookline.secrets.metastore.keys`), so that one metastore never ends up under several:

* a key file is generated only for a SQLite metastore, and only while it holds **no rows**; a
  PostgreSQL metastore is shared, so it needs ``HOOKLINE_FERNET_KEY`` (or ``fernet_keys=``, or a
  ``key_file``) and says how to share one (:class:`~hookline.exceptions.KeyNotConfigured`);
* a write refuses to add a row under a key that cannot read the rows already stored (a
  :class:`~hookline.exceptions.DecryptionError` naming the fingerprints), checked inside the write
  transaction, which SQLite's write lock and a PostgreSQL advisory lock serialize.

Decrypted rows are cached keyed by their ciphertext, so a warm lookup runs one SELECT and no
cryptography. :meth:`MetastoreBackend.list_connections` never drops a row silently: rows that cannot
be read are reported at the end as :class:`~hookline.exceptions.ListingIncomplete`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    BackendError,
    ConfigurationError,
    DecryptionError,
    InvalidConnection,
    KeyNotConfigured,
    ListingFailure,
    ListingIncomplete,
)
from hookline.masking import is_sensitive_key
from hookline.secrets.base import SecretsBackend
from hookline.secrets.metastore.keys import (
    FERNET_KEY_ENV,
    KeyRing,
    configured_keyring,
    create_home_keyring,
    home_key_file,
)
from hookline.secrets.metastore.migrations import HEAD_REVISION
from hookline.secrets.metastore.paths import (
    DB_FILE_NAME,
    check_private_dir,
    create_private_file,
    hookline_home,
    make_home,
)
from hookline.secrets.metastore.reads import (
    COUNTER_SQL,
    DriverOpener,
    Reader,
    ReaderPool,
    SqliteOpener,
    close_readers,
)
from hookline.secrets.metastore.rows import decode_row, encode_row, is_legacy
from hookline.secrets.metastore.staging import StagingMixin

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Engine

    from hookline.secrets.metastore.schema import connection_table, metadata, state_table
    from hookline.secrets.metastore.writes import Writer

__all__ = ["DB_FILE_NAME", "MetastoreBackend", "connection_table", "metadata", "state_table"]

log = logging.getLogger(__name__)

_CACHE_MAX_ENTRIES: Final = 4096
_SCHEMA_NAMES: Final = frozenset({"connection_table", "metadata", "state_table"})
_SIMPLE_SQLITE_URL: Final = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?#]*)")
_T = TypeVar("_T")


def __getattr__(name: str) -> Any:
    """The SQLAlchemy schema objects, imported on first access (see the module docstring)."""
    if name in _SCHEMA_NAMES:
        from hookline.secrets.metastore import schema as _metastore_schema

        return getattr(_metastore_schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _check_file_database(database: str) -> Path:
    if database in {"", ":memory:"} or "mode=memory" in database:
        raise ConfigurationError("the metastore needs a SQLite file, not an in-memory database")
    return Path(database)


class MetastoreBackend(StagingMixin, SecretsBackend):
    """Connections in a SQL database (SQLite or PostgreSQL), credential fields encrypted with Fernet.

    Args:
        url: A SQLAlchemy URL; None for SQLite at ``<home>/hookline.db``. ``postgresql://`` means
            ``postgresql+psycopg://``.
        fernet_keys: Fernet keys (comma-separated or a sequence; the first encrypts). None: see
            :func:`~hookline.secrets.metastore.keys.configured_keyring` (``HOOKLINE_FERNET_KEY``,
            else ``key_file``, else ``<home>/fernet.key`` for SQLite).
        key_file: A file holding the keys (``[secrets.backend.metastore] key_file``); it must exist.
        home: The hookline home (None: ``$HOOKLINE_HOME`` or ``~/.hookline``).
        connect_timeout_s: Connect timeout for network databases.
        lock_timeout_s: How long a SQLite write waits, retries included, for another writer's lock.
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
    transactional: ClassVar[bool] = True
    variable_writable = True
    variables_listable = True
    stageable: ClassVar[bool] = True  # credential rotation: see metastore.staging

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        fernet_keys: str | Sequence[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        home: str | os.PathLike[str] | None = None,
        connect_timeout_s: float = 5.0,
        lock_timeout_s: float = 30.0,
        read_pool_size: int = 8,
        **engine_kwargs: Any,
    ) -> None:
        self.home = hookline_home(home)
        self._fernet_keys = fernet_keys
        self._key_file = key_file
        self._keyring: KeyRing | None = None
        self._default_db = url is None
        self._url: URL | None = None
        self._path: Path | None = None
        if url is None:
            self._path = self.home / DB_FILE_NAME
        else:
            simple = _SIMPLE_SQLITE_URL.fullmatch(url) if isinstance(url, str) else None
            if simple is not None:  # the common form, parsed without importing SQLAlchemy
                self._path = _check_file_database(simple["path"])
            else:
                parsed = self._url = _normalize_url(url)
                if parsed.get_backend_name() == "sqlite":
                    self._path = _check_file_database(
                        "mode=memory" if "mode=memory" in str(parsed) else parsed.database or ""
                    )
        self.is_sqlite = self._path is not None
        self._connect_timeout_s = connect_timeout_s
        self._lock_timeout_s = lock_timeout_s
        self._engine_kwargs = engine_kwargs
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._writer: Writer | None = None
        self._read_engine: Engine | None = None
        self._write_ready = False
        self._opened = False
        self._pid = os.getpid()
        self._cache: dict[tuple[Any, ...], Connection] = {}
        self._variable_cache: dict[tuple[Any, ...], str] = {}
        if fernet_keys is not None:  # a malformed explicit key fails here, at once
            self._keyring = configured_keyring(fernet_keys, self.home)
        self._opener: SqliteOpener | DriverOpener
        if self._path is not None:
            self._label = self._path.name
            self._opener = SqliteOpener(self._path, busy_timeout_s=min(5.0, lock_timeout_s))
        else:
            parsed = self.url
            self._label = (
                f"{parsed.host or 'localhost'}:{parsed.port or 'default'}/{parsed.database or ''}"
            )
            self._opener = DriverOpener(self._get_read_engine, self._label, self._error)
        self._pool = ReaderPool(self._opener, read_pool_size)
        # Close idle read connections when the backend is garbage collected without close().
        weakref.finalize(self, close_readers, self._pool.idle)

    @property
    def url(self) -> URL:
        """The SQLAlchemy URL of the database (imports SQLAlchemy for a SQLite metastore)."""
        url = self._url
        if url is None:
            with self._lock:
                if self._url is None:
                    self._url = _normalize_url(f"sqlite:///{self._path}")
                url = self._url
        return url

    # -- reads ----------------------------------------------------------------------------------

    def _read_directory_check(self) -> None:
        if self._path is not None:
            what = "HOOKLINE_HOME" if self._default_db else "the directory of the SQLite metastore"
            check_private_dir(self._path.parent, what)

    def _run(self, work: Callable[[Reader], _T], empty: _T) -> _T:
        """Run ``work`` on a pooled reader (``empty`` when there is no database or schema yet);
        retry once on a dropped network connection."""
        if not self._opened:
            self._read_directory_check()
            self._opened = True
        for attempt in (1, 2):
            reader = self._pool.acquire()
            if reader is None:
                return empty
            opener = self._opener
            try:
                if reader.recheck:
                    reader.set_revision(opener.revision(reader), self._label)
                result = work(reader) if reader.revision is not None else empty
            except opener.errors as exc:
                dropped = opener.dropped(exc, reader)
                reader.close()
                if attempt == 1 and dropped:
                    continue
                raise opener.error(exc, "read") from exc
            except BaseException:
                reader.close()
                raise
            self._pool.release(reader)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _fetch_one(conn_id: str) -> Callable[[Reader], Any]:
        def work(reader: Reader) -> Any:
            cursor = reader.cursor
            cursor.execute(reader.sql_one, (conn_id,))
            return cursor.fetchone()

        return work

    @staticmethod
    def _fetch_all(reader: Reader) -> list[Any]:
        reader.cursor.execute(reader.sql_all)
        return list(reader.cursor.fetchall())

    @staticmethod
    def _fetch_scalar(sql: str) -> Callable[[Reader], int]:
        def work(reader: Reader) -> int:
            reader.cursor.execute(sql)
            row = reader.cursor.fetchone()
            return 0 if row is None else int(row[0])

        return work

    # -- keys and decoding ----------------------------------------------------------------------

    def _configured_keyring(self) -> KeyRing | None:
        ring = self._keyring
        if ring is None:
            ring = configured_keyring(
                None, self.home, key_file=self._key_file, use_home_key_file=self.is_sqlite
            )
            if ring is not None:
                self._keyring = ring
        return ring

    @property
    def keyring(self) -> KeyRing:
        """The key ring writes use (for a SQLite metastore with no rows, the key file is generated)."""
        return self._write_keyring()

    def _write_keyring(self) -> KeyRing:
        ring = self._configured_keyring()
        if ring is not None:
            return ring
        if not self.is_sqlite:
            raise KeyNotConfigured(
                f"no Fernet key is configured for the metastore at {self._label}. A shared "
                "metastore needs the same key on every machine, so hookline does not generate "
                "one: run `hookline keys generate` once, then give that key to every machine that "
                f"uses this metastore, as {FERNET_KEY_ENV} or in a key file (mode 0600) named by "
                "`key_file` in [secrets.backend.metastore]"
            )
        from hookline.secrets.metastore.variables import count_rows

        conns, variables = count_rows(self)
        if conns or variables:
            held = f"{conns} connection(s)" + (f" and {variables} variable(s)" if variables else "")
            raise KeyNotConfigured(
                f"no Fernet key is configured ({FERNET_KEY_ENV} is not set and there is no key "
                f"file at {home_key_file(self.home)}), but the metastore {self._label} holds "
                f"{held}. hookline does not generate a new key, which could not "
                f"read them: restore the key file from your backup, or set {FERNET_KEY_ENV} to "
                "the key that encrypted them"
            )
        with self._lock:
            if self._keyring is None:
                self._keyring = create_home_keyring(self.home)
            return self._keyring

    def _reading_keyring(self, conn_id: str) -> KeyRing:
        """The key ring for decrypting: a key generated now could not open existing rows."""
        try:
            ring = self._configured_keyring()
        except ConfigurationError as exc:
            raise DecryptionError(
                f"cannot decrypt connection {conn_id!r}: {exc}", conn_id=conn_id
            ) from None
        if ring is None:
            where = (
                f"no key file at {home_key_file(self.home)}" if self.is_sqlite else "no key_file"
            )
            raise DecryptionError(
                f"cannot decrypt connection {conn_id!r}: no Fernet key is configured "
                f"({FERNET_KEY_ENV} is not set, {where}). Set {FERNET_KEY_ENV} to the key that "
                "encrypted the metastore",
                conn_id=conn_id,
            )
        return ring

    def _decode(self, conn_id: str, row: tuple[Any, ...]) -> Connection:
        key = (conn_id, *row)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        conn = decode_row(conn_id, row, lambda: self._reading_keyring(conn_id))
        if len(self._cache) >= _CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = conn
        return conn

    def _lookup(self, conn_id: str) -> Connection | None:
        row = self._run(self._fetch_one(conn_id), None)
        if row is None:
            return None
        conn = self._cache.get((conn_id, *row))
        return conn if conn is not None else self._decode(conn_id, tuple(row))

    # -- the backend contract: reads --------------------------------------------------------------

    def get_conn_value(self, conn_id: str) -> str | None:
        """The stored connection as JSON text (password included), or None when absent.

        Raises:
            BackendUnavailable: the database cannot be reached.
            DecryptionError: no configured key decrypts the stored row.
            ConfigurationError: the database or its directory cannot be read, or is unsafe.
        """
        conn = self._lookup(conn_id)
        return None if conn is None else conn.to_json()

    def get_connection(self, conn_id: str) -> Connection | None:
        """The stored connection, or None when absent (same errors as :meth:`get_conn_value`)."""
        return self._lookup(conn_id)

    def lookup_keys(self, conn_id: str) -> list[str]:
        return [f"{self._label}:connection/{conn_id}"]

    def list_connections(self) -> Iterator[Connection]:
        """Every stored connection that can be read, ordered by conn_id.

        Rows that cannot be read do not stop the listing; after the last readable row,
        :class:`~hookline.exceptions.ListingIncomplete` names each of them and why.

        Raises:
            ListingIncomplete: some rows could not be decrypted or are malformed.
            BackendUnavailable, ConfigurationError: the database cannot be read at all.
        """
        rows: list[Any] = self._run(self._fetch_all, [])
        failures: list[ListingFailure] = []
        for row in rows:
            conn_id = str(row[0])
            try:
                conn = self._decode(conn_id, tuple(row[1:]))
            except (DecryptionError, InvalidConnection) as exc:
                failures.append(ListingFailure(self.name, conn_id, exc))
                continue
            yield conn
        if failures:
            raise ListingIncomplete(failures)

    def change_counter(self) -> int:
        """A counter bumped in the same transaction as every write (one single-row read; 0 while
        the database does not exist)."""
        return self._run(self._fetch_scalar(COUNTER_SQL), 0)

    def change_counter_if_open(self) -> int | None:
        """:meth:`change_counter`, or None while this backend has not read its database yet.

        What caches poll: a process whose lookups were all answered by earlier backends never opens
        the metastore, nor imports anything, just to watch it.
        """
        if not self._opened:
            return None
        return self.change_counter()

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first write)."""
        return self._run(lambda reader: reader.revision, None)

    # -- writes ---------------------------------------------------------------------------------

    def _get_writer(self) -> Writer:
        writer = self._writer
        if writer is None:
            from hookline.secrets.metastore.writes import Writer

            url = self.url
            with self._lock:
                if self._writer is None:
                    where = (
                        f"HOOKLINE_HOME ({self.home})"
                        if self._default_db
                        else f"the directory of {self._path}"
                    )
                    self._writer = Writer(
                        url,
                        path=self._path,
                        where=where,
                        label=self._label,
                        connect_timeout_s=self._connect_timeout_s,
                        lock_timeout_s=self._lock_timeout_s,
                        engine_kwargs=self._engine_kwargs,
                    )
                writer = self._writer
        return writer

    def check_engine_settings(self) -> None:
        """Build the write engine now, opening no connection and creating nothing, so a misspelled
        engine keyword fails here (``hookline config check``) rather than at the first write.

        Raises:
            ConfigurationError: SQLAlchemy refused the engine settings.
        """
        self._get_writer()

    def _get_read_engine(self) -> Engine:
        engine = self._read_engine
        if engine is None:
            engine = self._read_engine = self._get_writer().read_engine()
        return engine

    def _prepare_write(self) -> Writer:
        """Create what a write needs (home, database file, schema) once; return the writer."""
        writer = self._get_writer()
        if self._pid != os.getpid():  # forked: never use the parent's pooled write connections
            self._pid = os.getpid()
            writer.engine.dispose(close=False)
        if self._write_ready:
            return writer
        with self._setup_lock:
            if self._write_ready:
                return writer
            path = self._path
            if path is not None:
                if self._default_db:
                    make_home(self.home)
                else:
                    check_private_dir(path.parent, "the directory of the SQLite metastore")
                create_private_file(path)
                writer.prepare_sqlite()
            revision = writer.revision()
            if revision != HEAD_REVISION:
                writer.migrate()
            self._write_ready = True
        if revision is not None and is_legacy(revision):
            self._convert_after_upgrade()
        return writer

    def _convert_after_upgrade(self) -> None:
        """Move rows of the 0001 layout (host, login... in clear) into encrypted payloads."""
        try:
            ring = self._configured_keyring()
            if ring is None:
                raise KeyNotConfigured("no Fernet key is configured")
            from hookline.secrets.metastore.rotation import reencrypt

            count = reencrypt(self, self._prepare_write(), ring, batch_size=100, force=False)
        except (ConfigurationError, DecryptionError, InvalidConnection) as exc:
            log.warning(
                "the metastore %s was upgraded, but its older rows keep host, login, schema and "
                "description in clear until `hookline keys rotate` runs with the key that reads "
                "them (%s)",
                self._label,
                type(exc).__name__,
            )
        else:
            if count:
                log.info("encrypted the fields of %d older row(s) of %s", count, self._label)

    def _error(self, exc: BaseException, action: str) -> BackendError | ConfigurationError:
        """Translate a driver error into a hookline error (see :meth:`Writer.error`)."""
        return self._get_writer().error(exc, action)

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` (its credential fields encrypted with the first key).

        Args:
            conn: The connection; it must have a conn_id.
            overwrite: Replace an existing connection of that id (else raise).

        Raises:
            InvalidConnection: no conn_id, a NUL character in a field, or the id exists and
                ``overwrite`` is False.
            KeyNotConfigured: no key, and none may be generated (see the module docstring).
            DecryptionError: the configured key cannot read the rows already stored.
            BackendUnavailable: the database cannot be reached, or stayed locked too long.
        """
        self.set_connections([conn], overwrite=overwrite)

    def set_connections(self, conns: Iterable[Connection], *, overwrite: bool = True) -> None:
        """Store every connection of ``conns`` in one transaction: all of them, or none.

        Args:
            conns: The connections; each needs a conn_id, and ids must be distinct.
            overwrite: Replace existing connections (else raise, naming every existing id, and
                write nothing).

        Raises:
            Same as :meth:`set_connection`.
        """
        from hookline.secrets.metastore.rotation import upsert

        items = list(conns)
        ring: list[KeyRing] = []

        def keyring() -> KeyRing:
            if not ring:
                ring.append(self._write_keyring())
            return ring[0]

        values = [encode_row(conn, keyring) for conn in items]  # validates every one first
        counts = Counter(str(v["conn_id"]) for v in values)
        duplicates = sorted(conn_id for conn_id, n in counts.items() if n > 1)
        if duplicates:
            raise InvalidConnection(
                f"connection id(s) given more than once: {', '.join(map(repr, duplicates))}; "
                "nothing was written"
            )
        if not values:
            return
        writer = self._prepare_write()
        upsert(self, writer, values, ring[0] if ring else None, overwrite=overwrite)

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id``; return whether it existed (no key needed)."""
        if self._path is not None and not self._path.exists():
            return False

        from hookline.secrets.metastore.schema import BUMP, connection_table, pending_table

        def work(db: sa.Connection) -> bool:
            table = connection_table
            deleted = db.execute(table.delete().where(table.c.conn_id == conn_id)).rowcount
            db.execute(pending_table.delete().where(pending_table.c.conn_id == conn_id))
            if deleted:
                db.execute(BUMP)
            return bool(deleted)

        return self._prepare_write().transaction("delete a connection from", work)

    # -- variables (hookline.secrets.metastore.variables) ----------------------------------------

    def get_variable(self, key: str) -> str | None:
        """The decrypted value of variable ``key``, or None when absent.

        Raises:
            DecryptionError: no configured key decrypts the stored value.
            BackendUnavailable, ConfigurationError: the database cannot be read.
        """
        from hookline.secrets.metastore.variables import read_variable

        return read_variable(self, key)

    def variable_lookup_keys(self, key: str) -> list[str]:
        return [f"{self._label}:variable/{key}"]

    def set_variable(self, key: str, value: str, *, overwrite: bool = True) -> None:
        """Store variable ``key`` (its value encrypted with the first key); see
        :meth:`set_variables`."""
        self.set_variables([(key, value)], overwrite=overwrite)

    def set_variables(self, items: Iterable[tuple[str, str]], *, overwrite: bool = True) -> None:
        """Store every ``(key, value)`` in one transaction: all of them, or none (even under
        SIGKILL).

        Raises:
            InvalidVariable: repeated keys, a NUL character, or (``overwrite`` False) existing
                keys, all named; nothing is written.
            KeyNotConfigured, DecryptionError, BackendUnavailable: as :meth:`set_connections`.
        """
        from hookline.secrets.metastore.variables import store_variables

        store_variables(self, list(items), overwrite=overwrite)

    def delete_variable(self, key: str) -> bool:
        """Delete variable ``key``; return whether it existed (no key needed)."""
        from hookline.secrets.metastore.variables import delete_variable

        return delete_variable(self, key)

    def list_variables(self) -> Iterator[tuple[str, str]]:
        """``(key, value)`` of every stored variable, ordered by key; rows that cannot be
        decrypted are reported at the end as :class:`~hookline.exceptions.ListingIncomplete`."""
        from hookline.secrets.metastore.variables import list_variables

        yield from list_variables(self)

    def rotate_keys(
        self,
        batch_size: int = 100,
        *,
        force: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Re-encrypt every row not yet under the first key, ``batch_size`` rows per transaction:
        connections, the pending versions of credential rotations in progress, and variables.

        Rows of the 0001 layout (host, login, schema, description in clear) are moved into
        encrypted payloads too, and variables are re-encrypted after the connections. Safe to interrupt at any point (even with SIGKILL): each batch
        commits on its own, a row holds either its old or its new form, both readable with the
        configured keys, and ``key_id`` records which key each row is under, so a second run
        resumes where the first stopped.

        Args:
            batch_size: Rows per transaction.
            force: Re-encrypt rows already under the first key too (fresh tokens).
            progress: Called after each committed batch with the number of rows rotated so far.

        Returns:
            The number of rows re-encrypted (all three tables).

        Raises:
            KeyNotConfigured: no key is configured (nothing is generated for a rotation).
            DecryptionError: a row cannot be decrypted with any configured key (earlier batches
                stay committed; add the missing key and run again).
        """
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        from hookline.secrets.metastore.rotation import reencrypt

        ring = self._configured_keyring()
        if ring is None:
            raise KeyNotConfigured(
                f"no Fernet key is configured: {FERNET_KEY_ENV} is not set and there is no key "
                f"file at {home_key_file(self.home)}; nothing to rotate with"
            )
        if self._path is not None and not self._path.exists():
            return 0
        writer = self._prepare_write()
        conns = reencrypt(self, writer, ring, batch_size=batch_size, force=force, progress=progress)
        from hookline.secrets.metastore.variables import reencrypt_variables

        count = conns + reencrypt_variables(
            self,
            ring,
            batch_size=batch_size,
            force=force,
            progress=None if progress is None else (lambda done: progress(conns + done)),
        )
        from hookline.events import KeysRotated, default_bus

        if default_bus.active:
            default_bus.emit(KeysRotated(backend=self.name, rows=count))
        return count

    def close(self) -> None:
        """Close pooled connections; the backend reconnects if used again."""
        self._pool.close()
        if self._writer is not None:
            self._writer.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()

    def __repr__(self) -> str:
        if self._path is not None and self._url is None:
            return f"MetastoreBackend(url={'sqlite:///' + str(self._path)!r})"
        url = masking.redact(self.url.render_as_string(hide_password=True))
        return f"MetastoreBackend(url={url!r})"
