"""Environment-variable backend: ``HOOKLINE_CONN_<ID>``, then Airflow's ``AIRFLOW_CONN_<ID>``.

The id is upper-cased and nothing else changes (``-`` and ``.`` are kept), as Airflow does. A value
is a URI, or JSON when it starts with ``{``. Variables are read the same way from
``HOOKLINE_VAR_<KEY>``, then ``AIRFLOW_VAR_<KEY>`` (the value as it is).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

from hookline.connection import Connection
from hookline.secrets.base import SecretsBackend

__all__ = ["DEFAULT_PREFIXES", "DEFAULT_VARIABLE_PREFIXES", "EnvBackend"]

DEFAULT_PREFIXES: tuple[str, ...] = ("HOOKLINE_CONN_", "AIRFLOW_CONN_")
DEFAULT_VARIABLE_PREFIXES: tuple[str, ...] = ("HOOKLINE_VAR_", "AIRFLOW_VAR_")


def _split(prefixes: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(prefixes, str):
        return tuple(part.strip() for part in prefixes.split(",") if part.strip())
    return tuple(prefixes)


class EnvBackend(SecretsBackend):
    """Reads connections from environment variables.

    Args:
        prefixes: Variable-name prefixes, asked in order (a sequence, or comma-separated text as
            ``HOOKLINE_SECRETS__BACKEND__ENV__PREFIXES`` gives it).
        environ: The mapping to read (default ``os.environ``; tests pass a dict).
        variable_prefixes: The prefixes of Variables, asked in order (same forms as ``prefixes``).
    """

    listable = True
    variables_listable = True

    name = "env"

    def __init__(
        self,
        prefixes: Sequence[str] | str = DEFAULT_PREFIXES,
        environ: Mapping[str, str] | None = None,
        variable_prefixes: Sequence[str] | str = DEFAULT_VARIABLE_PREFIXES,
    ) -> None:
        self.prefixes = _split(prefixes)
        self.variable_prefixes = _split(variable_prefixes)
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

    def variable_lookup_keys(self, key: str) -> list[str]:
        upper = key.upper()
        return [prefix + upper for prefix in self.variable_prefixes]

    def get_variable(self, key: str) -> str | None:
        upper = key.upper()
        environ = self.environ
        for prefix in self.variable_prefixes:
            value = environ.get(prefix + upper)
            if value is not None:
                return value
        return None

    def list_variables(self) -> Iterator[tuple[str, str]]:
        """Every variable in the environment, keys lower-cased (the first prefix wins)."""
        found: dict[str, str] = {}
        items = sorted(self.environ.items())
        for prefix in self.variable_prefixes:  # the first prefix wins, as in lookups
            for name, value in items:
                if name.startswith(prefix) and len(name) > len(prefix):
                    found.setdefault(name[len(prefix) :].lower(), value)
        yield from sorted(found.items())

    def __repr__(self) -> str:
        return f"EnvBackend(prefixes={list(self.prefixes)!r})"
