"""Credential rotation: a pending version per connection, and when each connection was last rotated.

``connection_pending`` holds the pending version of a connection during a rotation (see
:mod:`hookline.rotation`): the same row layout as ``connection`` (``payload`` is one Fernet token
holding every text field, ``key_id`` its key's fingerprint), plus the rotation ``token`` and the
``step`` it completed, written in the same row so a killed rotation knows where it stopped.
``connection_rotation`` records the last rotation of each connection (time and token).

Rows of ``connection`` are unchanged, so a reader of revision 0003 could read them; it refuses the
database instead (unknown revision), which is the loud failure the migration rules ask for.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``connection_pending`` and ``connection_rotation``."""
    op.create_table(
        "connection_pending",
        sa.Column("conn_id", sa.String(250), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("conn_type", sa.String(500), nullable=True),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("payload", sa.Text, nullable=True),
    )
    op.create_table(
        "connection_rotation",
        sa.Column("conn_id", sa.String(250), primary_key=True),
        sa.Column("last_rotated_at", sa.Float, nullable=False),
        sa.Column("last_token", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    """Drop both tables; refused while a rotation is pending (its new credentials exist nowhere
    else)."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM connection_pending")).scalar():
        raise RuntimeError(
            "cannot downgrade the metastore below 0004 while a credential rotation is pending: "
            "finish it (`hookline rotate`) first"
        )
    op.drop_table("connection_rotation")
    op.drop_table("connection_pending")
