"""Encrypt every text field that can carry a credential: the ``payload`` column.

Host (``https://bob:token@api``), login, schema and description were stored in clear; from this
revision on, a row keeps them, with password and extra, in one Fernet token in ``payload``. The
migration adds the column only (it has no key); the metastore moves existing rows to the new layout
right after upgrading when a key that reads them is configured, and ``hookline keys rotate`` does it
otherwise. Until then old rows stay readable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``connection.payload`` (nullable text)."""
    with op.batch_alter_table("connection") as batch:
        batch.add_column(sa.Column("payload", sa.Text, nullable=True))


def downgrade() -> None:
    """Drop ``payload``; refused while a row uses it (its fields exist nowhere else)."""
    bind = op.get_bind()
    count = bind.execute(sa.text("SELECT count(*) FROM connection WHERE payload IS NOT NULL"))
    if count.scalar():
        raise RuntimeError(
            "cannot downgrade the metastore below 0002: rows keep their fields in payload only"
        )
    with op.batch_alter_table("connection") as batch:
        batch.drop_column("payload")
