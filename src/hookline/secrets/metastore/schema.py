"""The metastore's SQLAlchemy schema, imported only by writes and by the PostgreSQL read path.

Reads of the embedded SQLite database use the stdlib :mod:`sqlite3` and the SQL text in
:mod:`hookline.secrets.metastore.rows`, so a lookup never imports SQLAlchemy (about 100 ms in a fresh
process). The row layout is explained in :mod:`hookline.secrets.metastore.rows`.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "BUMP",
    "SELECT_COUNTER",
    "connection_table",
    "metadata",
    "pending_table",
    "rotation_table",
    "state_table",
    "variable_table",
]

metadata = sa.MetaData()
connection_table = sa.Table(
    "connection",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conn_id", sa.String(250), nullable=False, unique=True),
    sa.Column("conn_type", sa.String(500)),
    sa.Column("description", sa.Text),  # 0001 layout only (now inside payload)
    sa.Column("host", sa.Text),  # 0001 layout only
    sa.Column("schema", sa.Text),  # 0001 layout only
    sa.Column("login", sa.Text),  # 0001 layout only
    sa.Column("password", sa.Text),  # 0001 layout only (a Fernet token)
    sa.Column("port", sa.Integer),
    sa.Column("extra", sa.Text),  # 0001 layout only (a Fernet token)
    sa.Column("key_id", sa.String(16)),
    sa.Column("payload", sa.Text),  # 0002: one Fernet token holding every text field
)
state_table = sa.Table(
    "hookline_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("change_counter", sa.BigInteger, nullable=False),
)
# 0003: Airflow Variables; ``val`` is a Fernet token of the value, ``key_id`` its key's fingerprint.
variable_table = sa.Table(
    "variable",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(250), nullable=False, unique=True),
    sa.Column("val", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(16)),
    sa.Column("description", sa.Text),
)
# 0004: credential rotation (see hookline.secrets.metastore.staging).
pending_table = sa.Table(
    "connection_pending",
    metadata,
    sa.Column("conn_id", sa.String(250), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("conn_type", sa.String(500)),
    sa.Column("port", sa.Integer),
    sa.Column("key_id", sa.String(16)),
    sa.Column("payload", sa.Text),
)
rotation_table = sa.Table(
    "connection_rotation",
    metadata,
    sa.Column("conn_id", sa.String(250), primary_key=True),
    sa.Column("last_rotated_at", sa.Float, nullable=False),
    sa.Column("last_token", sa.String(64), nullable=False),
)

SELECT_COUNTER = sa.select(state_table.c.change_counter).where(state_table.c.id == 1)
BUMP = (
    state_table.update()
    .where(state_table.c.id == 1)
    .values(change_counter=state_table.c.change_counter + 1)
)
