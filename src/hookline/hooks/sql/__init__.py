"""SQL hooks over pooled SQLAlchemy engines: PostgreSQL, MySQL/MariaDB and SQLite.

* :mod:`~hookline.hooks.sql.hooks`: :class:`SqlHook` and its per-dialect subclasses (Airflow's
  DbApiHook API, DataFrames, COPY and bulk files);
* :mod:`~hookline.hooks.sql.execution`: the shared engine, checkouts, statements, error translation;
* :mod:`~hookline.hooks.sql.dialects`: what differs per database (URLs, error codes, defaults);
* :mod:`~hookline.hooks.sql.engines`: one pooled engine per connection and options in a process,
  credentials supplied at connect time, soft invalidation on rotation, parked connections;
* :mod:`~hookline.hooks.sql.pooling`: pool options and the cheap pre-ping check;
* :mod:`~hookline.hooks.sql.support`: statement splitting, handlers, result cursors, masked causes;
* :mod:`~hookline.hooks.sql.transfer`: the tab-separated bulk file format and DataFrame imports.
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
