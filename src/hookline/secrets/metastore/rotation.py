"""Multi-row writes of the metastore: the one-transaction upsert behind ``set_connections`` and the
batched re-encryption behind ``rotate_keys``.

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
from hookline.secrets.metastore.schema import BUMP, connection_table

if TYPE_CHECKING:
    from hookline.secrets.metastore.backend import MetastoreBackend
    from hookline.secrets.metastore.keys import KeyRing
    from hookline.secrets.metastore.writes import Writer

__all__ = ["check_keys", "reencrypt", "upsert"]

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


def check_keys(db: sa.Connection, ring: KeyRing, conn_ids: Sequence[str], label: str) -> None:
    """Refuse to add rows under ``ring`` when it cannot read rows already stored."""
    counts = db.execute(
        sa.text("SELECT key_id, count(*) FROM connection WHERE key_id IS NOT NULL GROUP BY key_id")
    ).all()
    unknown = {str(key_id): int(str(n)) for key_id, n in counts if key_id not in ring.fingerprints}
    if sa.inspect(db).has_table("variable"):  # 0003: variables are under the same key
        for key_id, n in db.execute(
            sa.text(
                "SELECT key_id, count(*) FROM variable WHERE key_id IS NOT NULL GROUP BY key_id"
            )
        ).all():
            if key_id not in ring.fingerprints:
                unknown[str(key_id)] = unknown.get(str(key_id), 0) + int(str(n))
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

    Raises:
        DecryptionError: a row cannot be decrypted with ``ring`` (earlier batches stay committed).
        InvalidConnection: a stored row is malformed.
    """
    primary = ring.primary_fingerprint
    stale = (
        "payload IS NOT NULL"
        if force
        else "payload IS NOT NULL AND (key_id IS NULL OR key_id <> :primary)"
    )
    query = sa.text(
        f"SELECT id, conn_id, {_ROW_COLUMNS} FROM connection WHERE id > :last_id AND "
        f"(({stale}) OR (payload IS NULL AND ({_LEGACY_FIELDS}))) ORDER BY id LIMIT :limit"
        + ("" if writer.is_sqlite else " FOR UPDATE")
    )
    update = (
        connection_table.update()
        .where(_c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name in ("payload", "key_id", *SECRET_FIELDS)})
    )

    def batch(db: sa.Connection, last_id: int) -> tuple[int, int]:
        params: dict[str, Any] = {"last_id": last_id, "limit": batch_size}
        if not force:
            params["primary"] = primary
        rows = db.execute(query, params).all()
        changes = []
        for row in rows:
            conn_id = str(row[1])
            conn = decode_row(conn_id, tuple(row[2:]), lambda: ring)
            values = encode_row(conn, lambda: ring)
            changes.append(
                {
                    "b_id": row[0],
                    **{f"b_{n}": values[n] for n in ("payload", "key_id", *SECRET_FIELDS)},
                }
            )
        if changes:
            db.execute(update, changes)
        return len(rows), (int(rows[-1][0]) if rows else last_id)

    total, last_id = 0, 0
    while True:
        count, last_id = writer.transaction(
            "re-encrypt connections in", functools.partial(batch, last_id=last_id)
        )
        if not count:
            break
        total += count
        if progress is not None:
            progress(total)
    if total:
        writer.truncate_wal()
        log.info("re-encrypted %d connection(s) with key %s", total, primary)
    return total
