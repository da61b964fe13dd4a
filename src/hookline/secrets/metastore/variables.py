"""Variables in the metastore: the ``variable`` table (schema revision 0003), each value Fernet-encrypted.

A row holds the key in clear (Airflow's ``variable.key``), ``val``, the Fernet token of the value,
and ``key_id``, the fingerprint of the key that encrypted it. Reads go through the backend's raw
readers (stdlib :mod:`sqlite3` for SQLite, no SQLAlchemy); a database whose schema predates 0003 holds
no variable (every lookup is absent; the first variable write migrates it). Writes run in one
transaction under the backend's write lock, bump the change counter (so other processes' caches
drop their entries) and refuse to add a value under a key that cannot read the rows already stored
(in ``connection`` or ``variable``), as connection writes do.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from hookline.exceptions import (
    ConfigurationError,
    DecryptionError,
    InvalidVariable,
    ListingFailure,
    ListingIncomplete,
)
from hookline.secrets.metastore.keys import FERNET_KEY_ENV
from hookline.secrets.metastore.reads import NO_VARIABLES_REVISIONS, Reader

if TYPE_CHECKING:
    import sqlalchemy as sa

    from hookline.secrets.metastore.backend import MetastoreBackend
    from hookline.secrets.metastore.keys import KeyRing

__all__ = [
    "count_rows",
    "delete_variable",
    "list_variables",
    "read_variable",
    "reencrypt_variables",
    "store_variables",
]

_CACHE_MAX_ENTRIES: Final = 4096
_IN_CHUNK: Final = 500
_ONE_SQL: Final = 'SELECT key_id, val FROM variable WHERE "key" = {}'
_ALL_SQL: Final = 'SELECT "key", key_id, val FROM variable ORDER BY "key"'


def _has_table(reader: Reader) -> bool:
    return reader.revision is not None and reader.revision not in NO_VARIABLES_REVISIONS


def count_rows(backend: MetastoreBackend) -> tuple[int, int]:
    """``(connections, variables)`` stored (0 while the database does not exist): a key may be
    generated only while both are 0."""

    def work(reader: Reader) -> tuple[int, int]:
        cursor = reader.cursor
        cursor.execute("SELECT count(*) FROM connection")
        row = cursor.fetchone()
        conns = 0 if row is None else int(row[0])
        variables = 0
        if _has_table(reader):
            cursor.execute("SELECT count(*) FROM variable")
            row = cursor.fetchone()
            variables = 0 if row is None else int(row[0])
        return conns, variables

    return backend._run(work, (0, 0))


def _reading_keyring(backend: MetastoreBackend, key: str) -> KeyRing:
    try:
        ring = backend._configured_keyring()
    except ConfigurationError as exc:
        raise DecryptionError(f"cannot decrypt variable {key!r}: {exc}") from None
    if ring is None:
        raise DecryptionError(
            f"cannot decrypt variable {key!r}: no Fernet key is configured ({FERNET_KEY_ENV} is "
            f"not set and there is no key file). Set {FERNET_KEY_ENV} to the key that encrypted "
            "the metastore"
        )
    return ring


def _decode(backend: MetastoreBackend, key: str, key_id: Any, token: Any) -> str:
    cache = backend._variable_cache
    entry = (key, key_id, token)
    value = cache.get(entry)
    if value is not None:
        return value
    ring = _reading_keyring(backend, key)
    value = ring.decrypt(
        str(token),
        conn_id=None,
        field=f"value of variable {key!r}",
        key_id=None if key_id is None else str(key_id),
    )
    if len(cache) >= _CACHE_MAX_ENTRIES:
        cache.clear()
    cache[entry] = value
    return value


def read_variable(backend: MetastoreBackend, key: str) -> str | None:
    """The decrypted value of ``key``, or None when absent (or no ``variable`` table yet).

    Raises:
        DecryptionError: no configured key decrypts the row.
        BackendUnavailable, ConfigurationError: the database cannot be read.
    """

    def work(reader: Reader) -> Any:
        if not _has_table(reader):
            return None
        cursor = reader.cursor
        cursor.execute(_ONE_SQL.format(reader.placeholder), (key,))
        return cursor.fetchone()

    row = backend._run(work, None)
    if row is None:
        return None
    return _decode(backend, key, row[0], row[1])


def list_variables(backend: MetastoreBackend) -> Iterator[tuple[str, str]]:
    """``(key, value)`` of every readable row, ordered by key; rows that cannot be decrypted are
    named at the end in a :class:`~hookline.exceptions.ListingIncomplete`."""

    def work(reader: Reader) -> list[Any]:
        if not _has_table(reader):
            return []
        reader.cursor.execute(_ALL_SQL)
        return list(reader.cursor.fetchall())

    rows: list[Any] = backend._run(work, [])
    failures: list[ListingFailure] = []
    for row in rows:
        key = str(row[0])
        try:
            value = _decode(backend, key, row[1], row[2])
        except DecryptionError as exc:
            failures.append(ListingFailure(backend.name, key, exc))
            continue
        yield key, value
    if failures:
        raise ListingIncomplete(failures)


def _check_keys(db: sa.Connection, ring: KeyRing, keys: Sequence[str], label: str) -> None:
    from hookline.secrets.metastore.rotation import unknown_keys

    unknown = unknown_keys(db, ring)
    if not unknown:
        return
    what = f"variable {keys[0]!r}" if len(keys) == 1 else f"{len(keys)} variables"
    theirs = ", ".join(
        f"{key_id} ({n} row{'s' if n != 1 else ''})" for key_id, n in sorted(unknown.items())
    )
    raise DecryptionError(
        f"refusing to store {what} under key {ring.primary_fingerprint} (from {ring.source}): "
        f"the metastore {label} holds rows encrypted with key(s) {theirs}, which are not "
        "configured here, so the metastore would be split across keys. Give every machine the "
        f"key the metastore already uses ({FERNET_KEY_ENV} or key_file). Nothing was written",
        key_ids=ring.fingerprints,
    )


def store_variables(
    backend: MetastoreBackend, pairs: Sequence[tuple[str, str]], *, overwrite: bool
) -> None:
    """Insert or update every ``(key, value)`` in one transaction: all of them, or none.

    Raises:
        InvalidVariable: repeated keys, a NUL character, or (``overwrite`` False) existing keys
            (all are named); nothing is written.
        KeyNotConfigured: no key, and none may be generated.
        DecryptionError: the configured key cannot read the rows already stored.
        BackendUnavailable: the database cannot be reached, or stayed locked too long.
    """
    import sqlalchemy as sa

    from hookline.secrets.metastore.schema import BUMP, variable_table

    counts = Counter(key for key, _ in pairs)
    duplicates = sorted(key for key, n in counts.items() if n > 1)
    if duplicates:
        raise InvalidVariable(
            f"variable key(s) given more than once: {', '.join(map(repr, duplicates))}; "
            "nothing was written"
        )
    for key, value in pairs:
        if "\x00" in value:
            raise InvalidVariable(
                f"the value of variable {key!r} contains a NUL character (\\x00), which the "
                "metastore does not store; nothing was written",
                key=key,
            )
    if not pairs:
        return
    ring = backend._write_keyring()
    fingerprint = ring.primary_fingerprint
    rows = [{"key": key, "val": ring.encrypt(value), "key_id": fingerprint} for key, value in pairs]
    keys = [key for key, _ in pairs]
    writer = backend._prepare_write()
    table = variable_table
    update = (
        table.update()
        .where(table.c.key == sa.bindparam("b_key"))
        .values(val=sa.bindparam("b_val"), key_id=sa.bindparam("b_key_id"))
    )

    def work(db: sa.Connection) -> None:
        _check_keys(db, ring, keys, backend._label)
        existing: set[str] = set()
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            existing.update(
                db.execute(sa.select(table.c.key).where(table.c.key.in_(chunk))).scalars()
            )
        if existing and not overwrite:
            found = [key for key in keys if key in existing]
            what = (
                f"variable {found[0]!r} already exists"
                if len(found) == 1
                else f"{len(found)} variables already exist ({', '.join(map(repr, found[:20]))}"
                + (", ..." if len(found) > 20 else "")
                + ")"
            )
            raise InvalidVariable(
                f"{what} in the metastore ({backend._label}); pass overwrite=True to replace "
                f"{'it' if len(found) == 1 else 'them'}. Nothing was written",
                key=found[0] if len(found) == 1 else None,
            )
        updates = [
            {"b_key": r["key"], "b_val": r["val"], "b_key_id": r["key_id"]}
            for r in rows
            if r["key"] in existing
        ]
        inserts = [r for r in rows if r["key"] not in existing]
        if updates:
            db.execute(update, updates)
        if inserts:
            db.execute(table.insert(), inserts)
        db.execute(BUMP)

    action = "store a variable in" if len(rows) == 1 else f"store {len(rows)} variables in"
    try:
        writer.transaction(action, work)
    except sa.exc.IntegrityError:  # a concurrent writer inserted one of these keys first
        writer.transaction(action, work)


def delete_variable(backend: MetastoreBackend, key: str) -> bool:
    """Delete ``key``; return whether it existed (no Fernet key needed)."""
    path = backend._path
    if path is not None and not path.exists():
        return False
    from hookline.secrets.metastore.schema import BUMP, variable_table

    def work(db: sa.Connection) -> bool:
        table = variable_table
        deleted = db.execute(table.delete().where(table.c.key == key)).rowcount
        if deleted:
            db.execute(BUMP)
        return bool(deleted)

    writer = backend._prepare_write()
    done: Callable[[sa.Connection], bool] = work
    return writer.transaction("delete a variable from", done)


def reencrypt_variables(
    backend: MetastoreBackend,
    ring: KeyRing,
    *,
    batch_size: int,
    force: bool,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Move every variable not under the first key of ``ring`` to it, one batch per transaction
    (safe to interrupt: each row holds its old or its new token, ``key_id`` says which); return how
    many rows were rewritten.

    Raises:
        DecryptionError: a value cannot be decrypted with ``ring`` (earlier batches stay committed).
    """
    import sqlalchemy as sa

    primary = ring.primary_fingerprint
    stale = "" if force else "AND (key_id IS NULL OR key_id <> :primary) "
    writer = backend._prepare_write()
    query = sa.text(
        f'SELECT id, "key", val, key_id FROM variable WHERE id > :last_id {stale}'
        "ORDER BY id LIMIT :limit" + ("" if writer.is_sqlite else " FOR UPDATE")
    )
    update = sa.text("UPDATE variable SET val = :val, key_id = :key_id WHERE id = :id")

    def batch(db: sa.Connection, last_id: int) -> tuple[int, int]:
        params: dict[str, Any] = {"last_id": last_id, "limit": batch_size}
        if not force:
            params["primary"] = primary
        rows = db.execute(query, params).all()
        changes = [
            {
                "id": row[0],
                "val": ring.rotate(
                    str(row[2]),
                    field=f"value of variable {str(row[1])!r}",
                    key_id=None if row[3] is None else str(row[3]),
                ),
                "key_id": primary,
            }
            for row in rows
        ]
        if changes:
            db.execute(update, changes)
        return len(rows), (int(rows[-1][0]) if rows else last_id)

    total, last_id = 0, 0
    while True:
        count, last_id = writer.transaction(
            "re-encrypt variables in", functools.partial(batch, last_id=last_id)
        )
        if not count:
            break
        total += count
        if progress is not None:
            progress(total)
    if total:
        writer.truncate_wal()
        backend._variable_cache.clear()
    return total
