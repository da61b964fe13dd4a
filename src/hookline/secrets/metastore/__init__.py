"""The metastore: connections in a SQL database (SQLite by default, PostgreSQL for many machines),
passwords and extras encrypted with Fernet.

* :mod:`~hookline.secrets.metastore.backend`: :class:`MetastoreBackend`, reads, writes, key rotation;
* :mod:`~hookline.secrets.metastore.schema`: the tables;
* :mod:`~hookline.secrets.metastore.keys`: Fernet key rings, key files and fingerprints;
* ``migrations/``: Alembic migrations shipped in the package.
"""

from __future__ import annotations

from hookline.secrets.metastore.backend import DB_FILE_NAME, MetastoreBackend

__all__ = ["DB_FILE_NAME", "MetastoreBackend"]
