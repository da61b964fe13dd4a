"""Initial metastore schema: the connection table and the single-row change counter.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``connection`` and ``hookline_state`` (with its one row, counter 0)."""
    op.create_table(
        "connection",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conn_id", sa.String(250), nullable=False),
        sa.Column("conn_type", sa.String(500), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("host", sa.Text, nullable=True),
        sa.Column("schema", sa.Text, nullable=True),
        sa.Column("login", sa.Text, nullable=True),
        sa.Column("password", sa.Text, nullable=True),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("extra", sa.Text, nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.UniqueConstraint("conn_id", name="uq_connection_conn_id"),
    )
    state = op.create_table(
        "hookline_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("change_counter", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "change_counter": 0}])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("hookline_state")
    op.drop_table("connection")
