"""BaseHook: the client for one system, built from a connection.

A hook is constructed from a conn_id (default: the class's ``default_conn_name``) or a
:class:`~hookline.Connection`. It builds its client lazily in :meth:`BaseHook.get_conn`, closes
everything it opened in :meth:`BaseHook.close` (also on ``with`` exit when the body raises), and
offers :meth:`BaseHook.test_connection`, which never raises and never puts a secret in its message.

Credential rotation is written once, here, for every hook: when the system rejects the credentials
(:class:`~hookline.exceptions.AuthenticationFailed`), :meth:`BaseHook.run_with_refresh` (or
:meth:`BaseHook.arun_with_refresh` for coroutines) re-resolves the connection once, bypassing caches
(``get_connection(conn_id, fresh=True)``), rebuilds the client through :meth:`BaseHook.reset_client`,
and retries once. Each refresh emits :class:`hookline.events.CredentialsRefreshed` on the default
event bus when a listener is subscribed.

A custom hook defines five things: ``conn_type``, ``hook_name``, ``default_conn_name``,
``conn_name_attr`` and ``get_conn()`` (plus ``close_conn()`` when its client holds resources, and
``_test()`` for a meaningful :meth:`BaseHook.test_connection`). See docs/custom_hooks.md.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from hookline import events, masking
from hookline.connection import Connection
from hookline.exceptions import AuthenticationFailed, ConnectionNotFound
from hookline.resolve.default import get_connection

__all__ = ["BaseHook"]

ClientT = TypeVar("ClientT")
ResultT = TypeVar("ResultT")


class BaseHook(ABC, Generic[ClientT]):
    """Base class of every hook.

    Class attributes (Airflow's ``DiscoverableHook`` contract):
        conn_type: The connection type this hook serves (``"postgres"``).
        hook_name: A human label (``"PostgreSQL"``).
        default_conn_name: The conn_id used when none is given (``"postgres_default"``).
        conn_name_attr: The keyword that names the conn id (``"postgres_conn_id"``), accepted by
            ``__init__`` for Airflow compatibility.

    Args:
        conn: A conn_id to resolve through :func:`hookline.get_connection`, or a Connection.
    """

    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    default_conn_name: ClassVar[str] = ""
    conn_name_attr: ClassVar[str] = "conn_id"

    def __init__(self, conn: str | Connection | None = None, **kwargs: Any) -> None:
        for name in dict.fromkeys((self.conn_name_attr, "conn_id")):
            alias = kwargs.pop(name, None)
            if conn is None and alias is not None:
                conn = alias
        if conn is None:
            conn = self.default_conn_name
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments: {', '.join(kwargs)}")
        if isinstance(conn, Connection):
            self._connection: Connection | None = conn
            self.conn_id: str = conn.conn_id or self.default_conn_name or "<anonymous>"
            # A Connection object with an id can be refreshed by that id; an anonymous one cannot.
            self._resolvable = conn.conn_id is not None
            self._register_secrets(conn)
        elif isinstance(conn, str) and conn:
            self._connection = None
            self.conn_id = conn
            self._resolvable = True
        else:
            raise TypeError(
                f"{type(self).__name__} needs a conn_id or a Connection "
                f"(no default_conn_name is set), got {conn!r}"
            )
        self._client: ClientT | None = None
        #: How many times this hook re-resolved its connection after an authentication failure
        #: (the same refreshes are reported as :class:`hookline.events.CredentialsRefreshed`).
        self.refresh_count = 0
        self.log = logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")

    # -- connection -------------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The connection, resolved on first use and then kept."""
        conn = self._connection
        if conn is None:
            conn = get_connection(self.conn_id)
            self._connection = conn
            self._register_secrets(conn)
        return conn

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """Resolve any connection by id (Airflow's classmethod, kept for migrants)."""
        return get_connection(conn_id)

    @classmethod
    def get_hook(cls, conn_id: str, hook_params: dict[str, Any] | None = None) -> Any:
        """Build the hook registered for ``conn_id``'s conn_type (Airflow's classmethod)."""
        return get_connection(conn_id).get_hook(**(hook_params or {}))

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Airflow's UI form hints, which the ``hookline serve`` connection form follows.

        Keys (all optional): ``hidden_fields`` (standard fields the type does not use, from
        ``host``, ``schema``, ``login``, ``password``, ``port``, ``extra``), ``relabeling`` (field
        -> label) and ``placeholders`` (field -> example text). None by default.
        """
        return {}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Fields of the connection form stored in the extra, by extra key.

        Each value is a dict: ``label`` (required), optional ``placeholder``, ``choices`` (a list of
        allowed values: a select box) and ``sensitive`` (a password input). Airflow returns WTForms
        widgets here; hookline has no WTForms, so it uses plain data. None by default.
        """
        return {}

    @staticmethod
    def _register_secrets(conn: Connection) -> None:
        # One mechanism for every resolved connection: the chain's (password, sensitive extras at
        # any depth, and the whole URI where the values alone would not mask it).
        from hookline.connection_secrets import register_connection_secrets

        register_connection_secrets(conn)

    def refresh_connection(self) -> bool:
        """Re-resolve the connection by id, bypassing caches; True when it changed.

        When it changed, :meth:`reset_client` drops the client so the next use rebuilds it. A hook
        built from a Connection object with a conn_id refreshes by that id; when no backend holds the
        id, the current connection is kept and the result is False. Either way a
        :class:`~hookline.events.CredentialsRefreshed` event is emitted (when anyone listens).
        """
        self.refresh_count += 1
        try:
            fresh = get_connection(self.conn_id, fresh=True)
        except ConnectionNotFound:
            self.log.warning("cannot refresh connection %r: no backend holds it", self.conn_id)
            changed = False
        else:
            self._register_secrets(fresh)
            changed = fresh != self._connection
            self._connection = fresh
            if changed:
                self.reset_client()
        bus = events.default_bus
        if bus.active:
            bus.emit(
                events.CredentialsRefreshed(
                    conn_id=self.conn_id, hook=type(self).__name__, changed=changed
                )
            )
        return changed

    # -- client lifecycle -------------------------------------------------------------------------

    @abstractmethod
    def get_conn(self) -> ClientT:
        """Return the client (built lazily on first call, then reused)."""

    def _client_built_once(
        self, lock: AbstractContextManager[Any], build: Callable[[], ClientT]
    ) -> ClientT:
        """The kept client, or the one ``build()`` returns on first use (then kept).

        Checked again under ``lock``, so threads racing the first call build one client, and a
        built client is returned without taking the lock. For :meth:`get_conn` implementations.
        """
        client = self._client
        if client is None:
            with lock:
                client = self._client
                if client is None:
                    client = build()
                    self._client = client
        return client

    def reset_client(self) -> None:
        """Drop the client so the next :meth:`get_conn` rebuilds it from the current connection."""
        self.close()

    def close_conn(self) -> None:
        """Release what the client holds; subclasses with resources override it."""

    def close(self) -> None:
        """Close the client and everything it opened. Safe to call twice."""
        try:
            self.close_conn()
        finally:
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- rotation ---------------------------------------------------------------------------------

    def run_with_refresh(self, action: Callable[[], ResultT]) -> ResultT:
        """Run ``action``; on :class:`AuthenticationFailed`, refresh the connection once and retry once.

        The connection is re-resolved with ``fresh=True`` (bypassing caches). The retry happens only
        when the refreshed connection differs from the one that failed (a rotated password);
        otherwise, and for an anonymous Connection object, the original error is raised. Either way
        at most one refresh and one retry happen per call.
        """
        try:
            return action()
        except AuthenticationFailed:
            if not self._refreshed_after_auth_failure():
                raise
        return action()

    async def arun_with_refresh(self, action: Callable[[], Awaitable[ResultT]]) -> ResultT:
        """:meth:`run_with_refresh` for a coroutine; the lookup runs in a worker thread, so a slow
        secrets backend does not block the event loop."""
        try:
            return await action()
        except AuthenticationFailed:
            if not await asyncio.to_thread(self._refreshed_after_auth_failure):
                raise
        return await action()

    def _refreshed_after_auth_failure(self) -> bool:
        """Refresh after an authentication failure; True when a retry with new credentials is due."""
        if not self._resolvable or not self.refresh_connection():
            return False
        self.log.info("credentials of %r changed; retrying once with the new ones", self.conn_id)
        return True

    # -- testing ----------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check that the system answers with these credentials. Never raises.

        Returns:
            ``(True, "Connection successfully tested")`` or ``(False, reason)``; the reason is masked.
        """
        try:
            self._test()
        except Exception as exc:
            return False, masking.redact(f"{type(exc).__name__}: {exc}")
        return True, "Connection successfully tested"

    def _test(self) -> None:
        """One round trip to the system; subclasses override. Default: build the client."""
        self.get_conn()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"
