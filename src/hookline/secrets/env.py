"""Environment-variable backend: ``HOOKLINE_CONN_<ID>``, then Airflow's ``AIRFLOW_CONN_<ID>``.

The id is upper-cased and nothing else changes (``-`` and ``.`` are kept), as Airflow does. A value
is a URI, or JSON when it starts with ``{``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

from hookline.connection import Connection
from hookline.secrets.base import SecretsBackend

__all__ = ["DEFAULT_PREFIXES", "EnvBackend"]

DEFAULT_PREFIXES: tuple[str, ...] = ("HOOKLINE_CONN_", "AIRFLOW_CONN_")


class EnvBackend(SecretsBackend):
    """Reads connections from environment variables.

    Args:
        prefixes: Variable-name prefixes, asked in order (a sequence, or comma-separated text as
            ``HOOKLINE_SECRETS__BACKEND__ENV__PREFIXES`` gives it).
        environ: The mapping to read (default ``os.environ``; tests pass a dict).
    """

    listable = True

    name = "env"

    def __init__(
        self,
        prefixes: Sequence[str] | str = DEFAULT_PREFIXES,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(prefixes, str):
            prefixes = [part.strip() for part in prefixes.split(",") if part.strip()]
        self.prefixes = tuple(prefixes)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def lookup_keys(self, conn_id: str) -> list[str]:
        upper = conn_id.upper()
        return [prefix + upper for prefix in self.prefixes]

    def get_conn_value(self, conn_id: str) -> str | None:
        upper = conn_id.upper()
        environ = self.environ
        for prefix in self.prefixes:
            value = environ.get(prefix + upper)
            if value is not None:
                return value
        return None

    def list_connections(self) -> Iterator[Connection]:
        seen: set[str] = set()
        for name, value in sorted(self.environ.items()):
            for prefix in self.prefixes:
                if name.startswith(prefix) and len(name) > len(prefix):
                    conn_id = name[len(prefix) :].lower()
                    if conn_id not in seen:
                        seen.add(conn_id)
                        yield Connection.from_text(value, conn_id=conn_id)

    def __repr__(self) -> str:
        return f"EnvBackend(prefixes={list(self.prefixes)!r})"
