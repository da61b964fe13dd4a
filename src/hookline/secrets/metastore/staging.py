"""The metastore's side of credential rotation: the ``stageable`` contract and the rotation ledger.

A pending version lives in ``connection_pending`` (schema revision 0004), one row per connection,
in the row layout of ``connection`` (every text field in one Fernet token, ``payload``), with the
rotation ``token`` and the ``step`` it completed in the same row: one transaction writes the value
and its step, so a rotation killed at any point finds both or neither.

:meth:`StagingMixin.promote_pending` copies the pending row over the current one, deletes it,
records the rotation in ``connection_rotation`` (time and token) and bumps the change counter, all
in one transaction; promoting the token recorded there again does nothing (idempotent).

Lookups never read ``connection_pending``. :meth:`StagingMixin.get_pending` reads it through the
same raw readers as lookups (no SQLAlchemy for a SQLite metastore), so the SQL hooks' fallback to
the pending credentials during a rotation (see :mod:`hookline.rotation.fallback`) costs one SELECT.

Kept out of :mod:`hookline.secrets.metastore.backend`, which :class:`StagingMixin` is mixed into;
SQLAlchemy is imported inside the write methods only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from hookline.connection import Connection
from hookline.exceptions import RotationError
from hookline.secrets.base import PendingVersion
from hookline.secrets.metastore.rows import encode_row

if TYPE_CHECKING:
    import sqlalchemy as sa

    from hookline.secrets.metastore.backend import MetastoreBackend
    from hookline.secrets.metastore.reads import Reader

__all__ = ["StagingMixin"]

_PRE_ROTATION_REVISIONS = frozenset({"0001", "0002", "0003"})
_PENDING_SQL = (
    "SELECT token, step, created_at, conn_type, port, key_id, payload "
    "FROM connection_pending WHERE conn_id = {placeholder}"
)
_LEDGER_SQL = "SELECT last_rotated_at FROM connection_rotation WHERE conn_id = {placeholder}"
_NO_CLEAR = (None, None, None, None, None, None)


def _fetch(sql: str, conn_id: str) -> Any:
    def work(reader: Reader) -> Any:
        if reader.revision in _PRE_ROTATION_REVISIONS:
            return None  # no rotation tables yet: nothing pending, never rotated
        reader.cursor.execute(sql.format(placeholder=reader.placeholder), (conn_id,))
        return reader.cursor.fetchone()

    return work


class StagingMixin:
    """``put_pending`` / ``get_pending`` / ``promote_pending`` / ``discard_pending`` and the
    rotation ledger (``last_rotated_at`` / ``record_rotation``) of :class:`MetastoreBackend`."""

    stageable: ClassVar[bool] = True

    def _me(self) -> MetastoreBackend:
        return self  # type: ignore[return-value]

    def put_pending(self, conn: Connection, *, token: str, step: str) -> None:
        """Store ``conn`` as the pending version of its conn_id (encrypted like every row), or
        update the step of the pending version ``token``.

        Raises:
            RotationError: another rotation (another token) of the connection is pending.
            InvalidConnection, KeyNotConfigured, DecryptionError, BackendUnavailable: as
                :meth:`MetastoreBackend.set_connection`.
        """
        import sqlalchemy as sa

        from hookline.secrets.metastore.rotation import check_keys
        from hookline.secrets.metastore.schema import pending_table

        me = self._me()
        ring = me._write_keyring()
        values = encode_row(conn, lambda: ring)
        conn_id = str(values["conn_id"])
        row = {
            "conn_type": values["conn_type"],
            "port": values["port"],
            "key_id": values["key_id"],
            "payload": values["payload"],
            "step": step,
        }
        table = pending_table

        def work(db: sa.Connection) -> None:
            check_keys(db, ring, [conn_id], me._label)
            found = db.execute(
                sa.select(table.c.token).where(table.c.conn_id == conn_id)
            ).scalar_one_or_none()
            if found is None:
                db.execute(
                    table.insert().values(
                        conn_id=conn_id, token=token, created_at=time.time(), **row
                    )
                )
            elif found == token:
                db.execute(table.update().where(table.c.conn_id == conn_id).values(**row))
            else:
                raise RotationError(
                    f"connection {conn_id!r} has another rotation in progress in the metastore; "
                    "run `hookline rotate` on it to finish or roll it back first",
                    step=step,
                )

        me._prepare_write().transaction("stage a pending version in", work)

    def get_pending(self, conn_id: str) -> PendingVersion | None:
        """The pending version of ``conn_id``, or None (also before schema revision 0004)."""
        me = self._me()
        if me._path is not None and not me._path.exists():
            return None
        found = me._run(_fetch(_PENDING_SQL, conn_id), None)
        if found is None:
            return None
        token, step, created_at, conn_type, port, key_id, payload = found
        conn = me._decode(conn_id, (conn_type, port, key_id, payload, *_NO_CLEAR))
        return PendingVersion(conn, str(token), str(step), float(created_at))

    def promote_pending(self, conn_id: str, token: str) -> None:
        """Make the pending version ``token`` current, record the rotation, bump the change
        counter (one transaction). Promoting the last promoted token again does nothing.

        Raises:
            RotationError: no pending version ``token``, and it is not the last one promoted.
        """
        import sqlalchemy as sa

        from hookline.secrets.metastore.schema import (
            BUMP,
            connection_table,
            pending_table,
            rotation_table,
        )

        me = self._me()
        pending, ledger, current = pending_table, rotation_table, connection_table

        def work(db: sa.Connection) -> None:
            found = db.execute(sa.select(pending).where(pending.c.conn_id == conn_id)).one_or_none()
            if found is None or found.token != token:
                last = db.execute(
                    sa.select(ledger.c.last_token).where(ledger.c.conn_id == conn_id)
                ).scalar_one_or_none()
                if last == token:
                    return
                raise RotationError(
                    f"connection {conn_id!r} has no pending version of this rotation to promote",
                    step="finish",
                )
            fields = dict.fromkeys(("host", "login", "password", "schema", "description", "extra"))
            values = {
                "conn_type": found.conn_type,
                "port": found.port,
                "key_id": found.key_id,
                "payload": found.payload,
                **fields,
            }
            updated = db.execute(
                current.update().where(current.c.conn_id == conn_id).values(**values)
            ).rowcount
            if not updated:
                db.execute(current.insert().values(conn_id=conn_id, **values))
            db.execute(pending.delete().where(pending.c.conn_id == conn_id))
            _record(db, conn_id, token, time.time())
            db.execute(BUMP)

        me._prepare_write().transaction("promote a pending version in", work)

    def discard_pending(self, conn_id: str, token: str) -> None:
        """Drop the pending version ``token`` (idempotent; the current version is untouched)."""
        me = self._me()
        if me._path is not None and not me._path.exists():
            return
        from hookline.secrets.metastore.schema import pending_table

        table = pending_table

        def work(db: sa.Connection) -> None:
            db.execute(
                table.delete().where((table.c.conn_id == conn_id) & (table.c.token == token))
            )

        me._prepare_write().transaction("discard a pending version in", work)

    # -- the rotation ledger ------------------------------------------------------------------------

    def last_rotated_at(self, conn_id: str) -> float | None:
        """When ``conn_id`` was last rotated (Unix time), or None if never."""
        me = self._me()
        if me._path is not None and not me._path.exists():
            return None
        found = me._run(_fetch(_LEDGER_SQL, conn_id), None)
        return None if found is None else float(found[0])

    def record_rotation(self, conn_id: str, token: str, at: float) -> None:
        """Record that ``conn_id`` was rotated at ``at`` (for connections stored in other
        backends; :meth:`promote_pending` records its own)."""
        self._me()._prepare_write().transaction(
            "record a rotation in", lambda db: _record(db, conn_id, token, at)
        )


def _record(db: sa.Connection, conn_id: str, token: str, at: float) -> None:
    from hookline.secrets.metastore.schema import rotation_table

    table = rotation_table
    updated = db.execute(
        table.update()
        .where(table.c.conn_id == conn_id)
        .values(last_rotated_at=at, last_token=token)
    ).rowcount
    if not updated:
        db.execute(table.insert().values(conn_id=conn_id, last_rotated_at=at, last_token=token))
