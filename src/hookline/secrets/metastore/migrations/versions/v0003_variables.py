"""Airflow Variables: the ``variable`` table, each value one Fernet token.

``val`` holds the Fernet token of the value and ``key_id`` the fingerprint of the key that encrypted
it (as ``connection.key_id``). Rows of ``connection`` are unchanged; a reader of revision 0002 refuses
the database (unknown revision), the loud failure the migration rules ask for.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``variable``."""
    op.create_table(
        "variable",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("val", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.UniqueConstraint("key", name="uq_variable_key"),
    )


def downgrade() -> None:
    """Drop ``variable``; refused while it holds rows (they exist nowhere else)."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM variable")).scalar():
        raise RuntimeError("cannot downgrade the metastore below 0003: it holds variables")
    op.drop_table("variable")
