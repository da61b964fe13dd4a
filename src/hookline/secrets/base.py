"""The secrets backend contract: one question, "what is the serialized connection for this id?".

A backend answers with the stored text (an Airflow URI, or JSON when it starts with ``{``) or None when
it does not hold the id. *Absent* (None) and *failed* (an exception) are different outcomes: a backend
that cannot answer raises :class:`~hookline.exceptions.BackendUnavailable` (the chain falls through) or
:class:`~hookline.exceptions.BackendPermissionDenied` (the chain stops).

A backend declares what else it can do with class attributes, which the chain, the cache and the CLI
read instead of probing for methods:

* ``writable``: implements :meth:`set_connection` (with ``overwrite=``) and :meth:`delete_connection`;
* ``listable``: implements :meth:`list_connections`;
* ``watchable``: implements :meth:`change_counter_if_open`, a counter bumped by every write from any
  process (caches poll it to drop entries another process changed);
* ``replicated``: implements :meth:`answered_by`, the replica that answered this thread's last lookup
  (the chain records it in the lookup trace).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from hookline.connection import Connection

__all__ = ["SecretsBackend"]


class SecretsBackend(ABC):
    """Base class of every secrets backend.

    Subclasses implement :meth:`get_conn_value`; a backend whose client already returns fields may
    override :meth:`get_connection` instead. ``name`` identifies the backend in traces and errors.
    """

    name: str = "backend"
    writable: ClassVar[bool] = False
    listable: ClassVar[bool] = False
    watchable: ClassVar[bool] = False
    replicated: ClassVar[bool] = False

    @abstractmethod
    def get_conn_value(self, conn_id: str) -> str | None:
        """Return the serialized connection (URI or JSON text) for ``conn_id``, or None if absent.

        Raises:
            BackendUnavailable: the backend could not answer (retryable).
            BackendPermissionDenied: the backend refused access (authoritative).
        """

    def get_connection(self, conn_id: str) -> Connection | None:
        """Return the connection for ``conn_id``, or None when this backend does not hold it.

        Raises:
            InvalidConnection: the stored value is malformed.
        """
        value = self.get_conn_value(conn_id)
        if value is None:
            return None
        return Connection.from_text(value, conn_id=conn_id)

    def handles(self, conn_id: str) -> bool:
        """Whether this backend should be asked for ``conn_id`` at all (default: always).

        Override to keep a paid or slow store from being asked for ids it never holds (Airflow's
        ``connections_lookup_pattern``); the chain records the step as ``skipped``.
        """
        return True

    def lookup_keys(self, conn_id: str) -> list[str]:
        """The keys (env var names, paths, secret ids) under which this backend looks for ``conn_id``;
        shown in lookup traces."""
        return [conn_id]

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` (writable backends only).

        Raises:
            InvalidConnection: ``overwrite`` is False and ``conn.conn_id`` exists already (checked
                atomically with the write).
        """
        raise NotImplementedError(f"{self.name} backend is read-only")

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id``; return whether it existed (writable backends only)."""
        raise NotImplementedError(f"{self.name} backend is read-only")

    def list_connections(self) -> Iterator[Connection]:
        """Yield every connection this backend holds (listable backends only)."""
        raise NotImplementedError(f"{self.name} backend cannot list its connections")

    def change_counter_if_open(self) -> int | None:
        """A counter bumped by every write from any process, or None while the backend has not opened
        its store yet (no information; watchable backends only)."""
        raise NotImplementedError(f"{self.name} backend cannot report changes")

    def answered_by(self) -> str:
        """The replica that answered this thread's last lookup, "" when none did (replicated
        backends only)."""
        raise NotImplementedError(f"{self.name} backend has no replicas")

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release clients and pools (optional)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
