"""Alembic environment for the hookline metastore.

Used programmatically only: the caller puts an open SQLAlchemy ``Connection`` (already inside a
transaction holding the migration lock) in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection


def run_migrations_online() -> None:
    """Run the migrations on the connection handed over by the caller."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "hookline migrations run programmatically: pass an open SQLAlchemy Connection in "
            "config.attributes['connection']"
        )
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("hookline migrations do not support offline (SQL script) mode")
run_migrations_online()
