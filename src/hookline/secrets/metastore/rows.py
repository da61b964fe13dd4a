"""How a connection becomes a metastore row and back, and the SQL that reads rows without SQLAlchemy.

Row layout (schema revision 0002 and later): ``conn_id``, ``conn_type`` and ``port`` are stored in
clear; every text field that can carry a credential goes into **one** Fernet token, ``payload`` (JSON
inside), with the fingerprint of its key in ``key_id``:

* ``host``: a URL host carries userinfo (``https://bob:token@api``);
* ``login``: many HTTP APIs take the API key as the Basic-auth user name;
* ``password`` and ``extra`` (tokens, key files, service-account JSON);
* ``schema`` and ``description``: free text that people fill with URLs and notes.

One token per row means one decryption per cold read (the 0001 layout needed two, for password and
extra), and nothing readable in the database file, a dump or SQLAlchemy's echo log.

Rows written under revision 0001 (``payload`` NULL; host, login, schema and description in clear,
password and extra each a token) are still read; rewriting a row, or ``hookline keys rotate``, moves
it to the new layout.

Text fields may not hold a NUL character: PostgreSQL text cannot store it and C clients cut a value
there, so a write refuses it on every database (:class:`~hookline.exceptions.InvalidConnection`
naming the field), and the same connection can move between SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from hookline.connection import Connection
from hookline.exceptions import InvalidConnection

if TYPE_CHECKING:
    from hookline.secrets.metastore.keys import KeyRing

__all__ = [
    "PAYLOAD_FIELD",
    "SECRET_FIELDS",
    "check_storable",
    "decode_row",
    "encode_row",
    "is_legacy",
    "select_all_sql",
    "select_one_sql",
]

SECRET_FIELDS: Final = ("host", "login", "password", "schema", "description", "extra")
PAYLOAD_FIELD: Final = "encrypted fields"
_TEXT_FIELDS: Final = ("conn_type", "host", "login", "password", "schema", "description")
_CLEAR: Final = dict.fromkeys(SECRET_FIELDS)

# Column order of every raw read: conn_type, port, key_id, payload, then the 0001 columns.
_COLUMNS: Final = (
    'conn_type, port, key_id, {payload}, host, login, password, "schema", description, extra'
)
LEGACY_REVISIONS: Final = frozenset({"0001"})


def _columns(revision: str) -> str:
    return _COLUMNS.format(payload="NULL" if revision in LEGACY_REVISIONS else "payload")


def select_one_sql(revision: str, placeholder: str) -> str:
    """The SELECT of one row by conn_id for a database at ``revision`` (``placeholder``: ``?``...)."""
    return f"SELECT {_columns(revision)} FROM connection WHERE conn_id = {placeholder}"


def select_all_sql(revision: str) -> str:
    """The SELECT of every row (conn_id first), ordered by conn_id."""
    return f"SELECT conn_id, {_columns(revision)} FROM connection ORDER BY conn_id"


def is_legacy(revision: str) -> bool:
    """Whether rows of a database at ``revision`` use the 0001 layout (no payload column)."""
    return revision in LEGACY_REVISIONS


def check_storable(conn: Connection) -> str:
    """Return the conn_id of ``conn`` if the metastore can store it.

    Raises:
        InvalidConnection: no conn_id, or a text field holds a NUL character (the field is named,
            never its value).
    """
    conn_id = conn.conn_id
    if conn_id is None:
        raise InvalidConnection("a connection needs a conn_id to be stored in the metastore")
    for name in _TEXT_FIELDS:
        value = getattr(conn, name)
        if value is not None and "\x00" in value:
            raise _nul_error(conn_id, name)
    extra = conn.extra_json
    if extra is not None and "\x00" in extra:
        raise _nul_error(conn_id, "extra")
    return conn_id


def _nul_error(conn_id: str, field: str) -> InvalidConnection:
    return InvalidConnection(
        f"connection {conn_id!r}: the {field} contains a NUL character (\\x00), which the "
        "metastore does not store (PostgreSQL text cannot hold it and C clients cut the value "
        "there); remove it",
        conn_id=conn_id,
    )


def encode_row(conn: Connection, keyring: Callable[[], KeyRing]) -> dict[str, Any]:
    """The column values of ``conn`` in the current layout (see the module docstring).

    ``keyring`` is called only when the connection has a field to encrypt.

    Raises:
        InvalidConnection: see :func:`check_storable`.
    """
    conn_id = check_storable(conn)
    fields: dict[str, str] = {}
    for name in ("host", "login", "password", "schema", "description"):
        value = getattr(conn, name)
        if value is not None:
            fields[name] = value
    extra = conn.extra_json
    if extra is not None:
        fields["extra"] = extra
    payload = key_id = None
    if fields:
        ring = keyring()
        payload = ring.encrypt(json.dumps(fields, ensure_ascii=False, separators=(",", ":")))
        key_id = ring.primary_fingerprint
    return {
        "conn_id": conn_id,
        "conn_type": conn.conn_type,
        "port": conn.port,
        "payload": payload,
        "key_id": key_id,
        **_CLEAR,
    }


def decode_row(conn_id: str, row: tuple[Any, ...], keyring: Callable[[], KeyRing]) -> Connection:
    """Build the connection of a raw row (column order of :func:`select_one_sql`).

    ``keyring`` is called only when the row holds encrypted fields.

    Raises:
        DecryptionError: no configured key decrypts the row.
        InvalidConnection: the stored row is malformed.
    """
    conn_type, port, key_id, payload, host, login, password, schema, description, extra = row
    if payload is not None:
        text = keyring().decrypt(payload, conn_id=conn_id, field=PAYLOAD_FIELD, key_id=key_id)
        try:
            fields = json.loads(text)
            if not isinstance(fields, dict) or not fields.keys() <= _CLEAR.keys():
                raise ValueError("unexpected fields")
        except ValueError:
            raise InvalidConnection(
                f"the stored row of connection {conn_id!r} is malformed (its encrypted fields are "
                "not the JSON object hookline writes); store the connection again",
                conn_id=conn_id,
            ) from None
        host = fields.get("host")
        login = fields.get("login")
        password = fields.get("password")
        schema = fields.get("schema")
        description = fields.get("description")
        extra = fields.get("extra")
    elif password is not None or extra is not None:  # the 0001 layout: two tokens
        ring = keyring()
        if password is not None:
            password = ring.decrypt(password, conn_id=conn_id, field="password", key_id=key_id)
        if extra is not None:
            extra = ring.decrypt(extra, conn_id=conn_id, field="extra", key_id=key_id)
    return Connection(
        conn_id=conn_id, conn_type=conn_type, description=description, host=host, login=login,
        password=password, schema=schema, port=port, extra=extra,
    )  # fmt: skip
