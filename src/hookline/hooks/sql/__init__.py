"""SQL hooks over pooled SQLAlchemy engines: PostgreSQL, MySQL/MariaDB and SQLite.

* :mod:`~hookline.hooks.sql.hooks`: :class:`SqlHook` and its per-dialect subclasses (Airflow's
  DbApiHook API);
* :mod:`~hookline.hooks.sql.dialects`: what differs per database (URLs, error codes, defaults);
* :mod:`~hookline.hooks.sql.support`: statement splitting, handlers, result cursors;
* :mod:`~hookline.hooks.sql.engines`: one pooled engine per connection and options in a process.
"""

from __future__ import annotations

from hookline.hooks.sql.hooks import (
    MySqlHook,
    PostgresHook,
    ResultCursor,
    SqlHook,
    SqliteHook,
    fetch_all_handler,
    fetch_one_handler,
    split_sql_string,
)

__all__ = [
    "MySqlHook",
    "PostgresHook",
    "ResultCursor",
    "SqlHook",
    "SqliteHook",
    "fetch_all_handler",
    "fetch_one_handler",
    "split_sql_string",
]
