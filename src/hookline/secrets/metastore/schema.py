"""The metastore's SQLAlchemy schema and prepared statements, imported only when the database is used.

Kept apart from :mod:`hookline.secrets.metastore` so that building the default secrets chain, and any
lookup that the environment answers, never imports SQLAlchemy (about 100 ms in a fresh process).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "BUMP",
    "ROW_COLUMNS",
    "SELECT_ALL",
    "SELECT_COUNTER",
    "SELECT_ONE",
    "SELECT_VERSION",
    "connection_table",
    "metadata",
    "state_table",
]

metadata = sa.MetaData()
connection_table = sa.Table(
    "connection",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conn_id", sa.String(250), nullable=False, unique=True),
    sa.Column("conn_type", sa.String(500)),
    sa.Column("description", sa.Text),
    sa.Column("host", sa.Text),
    sa.Column("schema", sa.Text),
    sa.Column("login", sa.Text),
    sa.Column("password", sa.Text),
    sa.Column("port", sa.Integer),
    sa.Column("extra", sa.Text),
    sa.Column("key_id", sa.String(16)),
)
state_table = sa.Table(
    "hookline_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("change_counter", sa.BigInteger, nullable=False),
)

_c = connection_table.c
ROW_COLUMNS = (
    _c.conn_type, _c.description, _c.host, _c.login, _c.password, _c.schema, _c.port, _c.extra,
    _c.key_id,
)  # fmt: skip
SELECT_ONE = sa.select(*ROW_COLUMNS).where(_c.conn_id == sa.bindparam("conn_id"))
SELECT_ALL = sa.select(_c.conn_id, *ROW_COLUMNS).order_by(_c.conn_id)
SELECT_COUNTER = sa.select(state_table.c.change_counter).where(state_table.c.id == 1)
SELECT_VERSION = sa.text("SELECT version_num FROM alembic_version")
BUMP = (
    state_table.update()
    .where(state_table.c.id == 1)
    .values(change_counter=state_table.c.change_counter + 1)
)
