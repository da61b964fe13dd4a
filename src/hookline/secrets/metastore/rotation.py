"""Multi-row writes of the metastore: the one-transaction upsert behind ``set_connections`` and the
batched re-encryption behind ``rotate_keys`` (connections and the pending versions of credential
rotations in progress; variables in :mod:`hookline.secrets.metastore.variables`).

Kept apart from :mod:`hookline.secrets.metastore.backend` (which stays free of SQLAlchemy imports);
both run inside :meth:`hookline.secrets.metastore.writes.Writer.transaction`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from hookline.exceptions import DecryptionError, InvalidConnection
from hookline.secrets.metastore.keys import FERNET_KEY_ENV
from hookline.secrets.metastore.rows import SECRET_FIELDS, decode_row, encode_row
from hookline.secrets.metastore.schema import (
    BUMP,
    connection_table,
    pending_table,
)

if TYPE_CHECKING:
    from hookline.secrets.metastore.backend import MetastoreBackend
    from hookline.secrets.metastore.keys import KeyRing
    from hookline.secrets.metastore.writes import Writer

__all__ = ["check_keys", "reencrypt", "unknown_keys", "upsert"]

log = logging.getLogger(__name__)

_IN_CHUNK: Final = 500
_c = connection_table.c
_VALUE_COLUMNS: Final = ("conn_type", "port", "payload", "key_id", *SECRET_FIELDS)
_UPDATE = (
    connection_table.update()
    .where(_c.conn_id == sa.bindparam("b_conn_id"))
    .values({name: sa.bindparam(f"b_{name}") for name in _VALUE_COLUMNS})
)
_LEGACY_FIELDS = " OR ".join(
    ('"schema"' if name == "schema" else name) + " IS NOT NULL" for name in SECRET_FIELDS
)
_ROW_COLUMNS = (
    'conn_type, port, key_id, payload, host, login, password, "schema", description, extra'
)


# Every table holding Fernet tokens with a ``key_id`` (all exist at the head revision, which every
# write migrates to first).
_KEYED_TABLES: Final = ("connection", "connection_pending", "variable")


def unknown_keys(db: sa.Connection, ring: KeyRing) -> dict[str, int]:
    """Rows per key fingerprint not in ``ring``, over every table holding Fernet tokens."""
    unknown: dict[str, int] = {}
    for table in _KEYED_TABLES:
        counts = db.execute(
            sa.text(
                f"SELECT key_id, count(*) FROM {table} WHERE key_id IS NOT NULL GROUP BY key_id"
            )
        ).all()
        for key_id, n in counts:
            if key_id not in ring.fingerprints:
                unknown[str(key_id)] = unknown.get(str(key_id), 0) + int(str(n))
    return unknown


def check_keys(db: sa.Connection, ring: KeyRing, conn_ids: Sequence[str], label: str) -> None:
    """Refuse to add rows under ``ring`` when it cannot read rows already stored."""
    unknown = unknown_keys(db, ring)
    if not unknown:
        return
    what = f"connection {conn_ids[0]!r}" if len(conn_ids) == 1 else f"{len(conn_ids)} connections"
    theirs = ", ".join(
        f"{key_id} ({n} row{'s' if n != 1 else ''})" for key_id, n in sorted(unknown.items())
    )
    raise DecryptionError(
        f"refusing to store {what} under key {ring.primary_fingerprint} (from {ring.source}): "
        f"the metastore {label} holds rows encrypted with key(s) {theirs}, which are not "
        f"configured here, so this key could not read them and the metastore would be split "
        f"across keys. Give every machine the key the metastore already uses ({FERNET_KEY_ENV} "
        "or key_file); to move to a new key, configure 'new,old' and run `hookline keys "
        "rotate`; if that key is lost, delete those rows and store them again. Nothing was "
        "written",
        conn_id=conn_ids[0] if len(conn_ids) == 1 else None,
        key_ids=ring.fingerprints,
    )


def upsert(
    backend: MetastoreBackend,
    writer: Writer,
    values: Sequence[dict[str, Any]],
    ring: KeyRing | None,
    *,
    overwrite: bool,
) -> None:
    """Insert or update the rows ``values`` (from :func:`encode_row`) in one transaction.

    Raises:
        InvalidConnection: ``overwrite`` is False and some ids exist (all are named).
        DecryptionError: ``ring`` cannot read rows already stored.
    """
    ids = [str(v["conn_id"]) for v in values]

    def work(db: sa.Connection) -> None:
        if ring is not None:
            check_keys(db, ring, ids, backend._label)
        existing: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            existing.update(
                db.execute(sa.select(_c.conn_id).where(_c.conn_id.in_(chunk))).scalars()
            )
        if existing and not overwrite:
            found = [conn_id for conn_id in ids if conn_id in existing]
            what = (
                f"connection {found[0]!r} already exists"
                if len(found) == 1
                else f"{len(found)} connections already exist ({', '.join(map(repr, found[:20]))}"
                + (", ..." if len(found) > 20 else "")
                + ")"
            )
            raise InvalidConnection(
                f"{what} in the metastore ({backend._label}); pass overwrite=True to replace "
                f"{'it' if len(found) == 1 else 'them'}. Nothing was written",
                conn_id=found[0] if len(found) == 1 else None,
            )
        updates = [
            {f"b_{name}": v[name] for name in ("conn_id", *_VALUE_COLUMNS)}
            for v in values
            if v["conn_id"] in existing
        ]
        inserts = [v for v in values if v["conn_id"] not in existing]
        if updates:
            db.execute(_UPDATE, updates)
        if inserts:
            db.execute(connection_table.insert(), inserts)
        db.execute(BUMP)

    action = "store a connection in" if len(values) == 1 else f"store {len(values)} connections in"
    try:
        writer.transaction(action, work)
    except sa.exc.IntegrityError:  # a concurrent writer inserted one of these ids first
        writer.transaction(action, work)


def reencrypt(
    backend: MetastoreBackend,
    writer: Writer,
    ring: KeyRing,
    *,
    batch_size: int,
    force: bool,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Move every row not under the first key of ``ring`` (or of the 0001 layout) to it, one batch
    per transaction; return how many rows were rewritten.

    Two tables, in this order: ``connection_pending`` (a rotation in progress must survive the old
    key being retired), then ``connection``: pending rows go first so a rotation promoted while
    this runs copies a row already under the new key. (Variables are re-encrypted after, by
    :func:`hookline.secrets.metastore.variables.reencrypt_variables`.)

    Raises:
        DecryptionError: a row cannot be decrypted with ``ring`` (earlier batches stay committed).
        InvalidConnection: a stored row is malformed.
    """
    counts = {"pending": 0, "connection": 0}
    done = 0

    def step(table: str) -> Callable[[int], None]:
        def report(rows: int) -> None:
            counts[table] = rows
            if progress is not None:
                progress(done + rows)

        return report

    passes: tuple[tuple[str, Callable[..., int]], ...] = (
        ("pending", _reencrypt_pending),
        ("connection", _reencrypt_connections),
    )
    for table, run in passes:
        counts[table] = run(writer, ring, batch_size=batch_size, force=force, report=step(table))
        done += counts[table]
    if done:
        writer.truncate_wal()
        log.info(
            "re-encrypted %d connection(s) and %d pending rotation(s) with key %s",
            counts["connection"],
            counts["pending"],
            ring.primary_fingerprint,
        )
    return done


_Batch = Callable[..., tuple[int, Any]]


def _run_batches(
    writer: Writer, what: str, batch: _Batch, first: Any, report: Callable[[int], None]
) -> int:
    total, last = 0, first
    while True:
        count, last = writer.transaction(
            f"re-encrypt {what} in", functools.partial(batch, last=last)
        )
        if not count:
            return total
        total += count
        report(total)


def _stale(force: bool, params: dict[str, Any], ring: KeyRing) -> str:
    if force:
        return "payload IS NOT NULL"
    params["primary"] = ring.primary_fingerprint
    return "payload IS NOT NULL AND (key_id IS NULL OR key_id <> :primary)"


def _reencrypt_connections(
    writer: Writer, ring: KeyRing, *, batch_size: int, force: bool, report: Callable[[int], None]
) -> int:
    update = (
        connection_table.update()
        .where(_c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name in ("payload", "key_id", *SECRET_FIELDS)})
    )

    def batch(db: sa.Connection, last: int) -> tuple[int, int]:
        params: dict[str, Any] = {"last_id": last, "limit": batch_size}
        stale = _stale(force, params, ring)
        query = sa.text(
            f"SELECT id, conn_id, {_ROW_COLUMNS} FROM connection WHERE id > :last_id AND "
            f"(({stale}) OR (payload IS NULL AND ({_LEGACY_FIELDS}))) ORDER BY id LIMIT :limit"
            + ("" if writer.is_sqlite else " FOR UPDATE")
        )
        rows = db.execute(query, params).all()
        changes = []
        for row in rows:
            conn = decode_row(str(row[1]), tuple(row[2:]), lambda: ring)
            values = encode_row(conn, lambda: ring)
            changes.append(
                {
                    "b_id": row[0],
                    **{f"b_{n}": values[n] for n in ("payload", "key_id", *SECRET_FIELDS)},
                }
            )
        if changes:
            db.execute(update, changes)
        return len(rows), (int(rows[-1][0]) if rows else last)

    return _run_batches(writer, "connections", batch, 0, report)


_NO_CLEAR: Final = (None,) * len(SECRET_FIELDS)


def _reencrypt_pending(
    writer: Writer, ring: KeyRing, *, batch_size: int, force: bool, report: Callable[[int], None]
) -> int:
    table = pending_table
    update = (
        table.update()
        .where(table.c.conn_id == sa.bindparam("b_conn_id"))
        .values(payload=sa.bindparam("b_payload"), key_id=sa.bindparam("b_key_id"))
    )

    def batch(db: sa.Connection, last: str) -> tuple[int, str]:
        params: dict[str, Any] = {"last": last, "limit": batch_size}
        stale = _stale(force, params, ring)
        query = sa.text(
            "SELECT conn_id, conn_type, port, key_id, payload FROM connection_pending "
            f"WHERE conn_id > :last AND ({stale}) ORDER BY conn_id LIMIT :limit"
            + ("" if writer.is_sqlite else " FOR UPDATE")
        )
        rows = db.execute(query, params).all()
        changes = []
        for row in rows:
            conn_id = str(row[0])
            conn = decode_row(conn_id, (*row[1:], *_NO_CLEAR), lambda: ring)
            values = encode_row(conn, lambda: ring)
            changes.append(
                {"b_conn_id": conn_id, "b_payload": values["payload"], "b_key_id": values["key_id"]}
            )
        if changes:
            db.execute(update, changes)
        return len(rows), (str(rows[-1][0]) if rows else last)

    return _run_batches(writer, "pending rotations", batch, "", report)
