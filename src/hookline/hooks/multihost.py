"""A hook over several hosts of one connection, each behind a circuit breaker.

:class:`MultiHostHook` takes a connection whose ``host`` lists several hosts (``"db-a:5432,db-b:5432"``,
or base URLs ``"https://api-1.example,https://api-2.example"`` for HTTP), or whose extra ``hosts``
lists them, and builds one hook per host. A call runs on the first host in order of health, then
latency, then listed order (:class:`hookline.failover.FailoverGroup`):

* a host whose breaker is open is not asked; a background thread probes it with the hook's own
  connection test and traffic returns once it answers;
* :class:`~hookline.exceptions.HookConnectionError` counts a failure on that host; the call moves on
  to the next host only when it is marked ``repeatable`` (a read, an idempotent request), since a
  request that was sent may have been carried out. A non-repeatable call that fails this way is
  raised (and counted): the next call goes to a healthy host;
* any other error (a bad query, an HTTP 4xx) is the answer and is raised;
* :class:`~hookline.exceptions.AuthenticationFailed` resolves the connection again (bypassing
  caches) and, when it changed, rebuilds the hosts' hooks and retries once, as every hook does.

This works for every hook: :class:`~hookline.hooks.sql.SqlHook` (MySQL, and PostgreSQL when a
breaker per host is wanted instead of libpq's own ``host=a,b`` list), and
:class:`~hookline.hooks.http.HttpHook` over several base URLs.

Example:
    >>> db = MultiHostHook("warehouse", SqlHook)  # host = "db-a:5432,db-b:5432"  # doctest: +SKIP
    >>> db.call(lambda hook: hook.get_records("select 1"), repeatable=True)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from hookline.connection import Connection
from hookline.exceptions import AuthenticationFailed, ConfigurationError, HookConnectionError
from hookline.failover import BreakerSettings, FailoverGroup
from hookline.hooks.base import BaseHook
from hookline.resolve.default import get_connection

__all__ = ["HOSTS_EXTRA", "MultiHostHook", "split_hosts"]

HookT = TypeVar("HookT", bound=BaseHook[Any])
R = TypeVar("R")

#: The extra key that may list the hosts (a list, or comma-separated text) instead of ``host``.
HOSTS_EXTRA = "hosts"


def split_hosts(
    text: str | Sequence[str], default_port: int | None
) -> list[tuple[str, int | None]]:
    """``(host, port)`` pairs from ``"a:1,b"`` or a list; base URLs (``scheme://...``) stay whole
    with port None.

    Raises:
        ConfigurationError: an empty entry or a port that is not a number.
    """
    entries = [part.strip() for part in text.split(",")] if isinstance(text, str) else list(text)
    hosts: list[tuple[str, int | None]] = []
    for raw in entries:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigurationError(f"host list {text!r} has an empty entry")
        entry = raw.strip()
        if "://" in entry:
            hosts.append((entry, None))
            continue
        host, colon, port = entry.rpartition(":")
        if not colon or "]" in port:  # no port, or a bare IPv6 address
            hosts.append((entry, default_port))
        elif port.isdigit():
            hosts.append((host.strip("[]"), int(port)))
        else:
            raise ConfigurationError(f"host {entry!r} has a port that is not a number")
    return hosts


def _display(host: str, port: int | None) -> str:
    """The host as shown in names and metrics: no userinfo, path or query."""
    if "://" in host:
        parts = urlsplit(host)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"{parts.scheme}://{netloc}"
    return f"{host}:{port}" if port is not None else host


class MultiHostHook(Generic[HookT]):
    """Hooks of ``hook_class`` over the hosts of one connection, each behind a breaker.

    Args:
        conn: A conn_id or a Connection.
        hook_class: The hook to build per host (default: the one registered for the conn_type).
        hosts: The hosts (``"host:port"`` or base URLs), overriding the connection's.
        settings: Breaker thresholds, probe interval and latency bucket.
        hook_kwargs: Keyword arguments for each hook.

    Raises:
        ConfigurationError: the connection lists no hosts, or a host entry is malformed.
    """

    def __init__(
        self,
        conn: str | Connection,
        hook_class: type[HookT] | None = None,
        *,
        hosts: Sequence[str] | None = None,
        settings: BreakerSettings | None = None,
        hook_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._conn_id = conn if isinstance(conn, str) else conn.conn_id
        self._connection = conn if isinstance(conn, Connection) else None
        self._hook_class = hook_class
        self._hosts = list(hosts) if hosts is not None else None
        self.settings = settings or BreakerSettings()
        self._hook_kwargs = dict(hook_kwargs or {})
        self._group: FailoverGroup[HookT] | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The connection id (or ``"<anonymous>"``)."""
        return self._conn_id or "<anonymous>"

    @property
    def connection(self) -> Connection:
        """The connection, resolved on first use."""
        conn = self._connection
        if conn is None:
            assert self._conn_id is not None
            conn = self._connection = get_connection(self._conn_id)
        return conn

    @property
    def group(self) -> FailoverGroup[HookT]:
        """The failover group of per-host hooks (built on first use)."""
        group = self._group
        if group is None:
            with self._lock:
                group = self._group
                if group is None:
                    group = self._group = self._build(self.connection)
        return group

    @property
    def hooks(self) -> list[HookT]:
        """The per-host hooks, in listed order."""
        return [member.target for member in self.group.members]

    def _build(self, conn: Connection) -> FailoverGroup[HookT]:
        extra = dict(conn.extra_dejson)
        listed = self._hosts if self._hosts is not None else extra.pop(HOSTS_EXTRA, None)
        extra.pop(HOSTS_EXTRA, None)
        source = listed if listed is not None else (conn.host or "")
        hosts = split_hosts(source, conn.port) if source else []
        if not hosts:
            raise ConfigurationError(f"connection {self.name!r} lists no hosts")
        if self._hook_class is not None:
            hook_class: type[Any] = self._hook_class
        else:
            from hookline.registry import hook_class_for

            hook_class = hook_class_for(conn.conn_type or "")
        members: list[tuple[str, HookT]] = []
        for index, (host, port) in enumerate(hosts, start=1):
            member = conn.replace(conn_id=f"{self.name}#{index}", host=host, port=port, extra=extra)
            hook: HookT = hook_class(member, **self._hook_kwargs)
            # The member's id names its engine or client, it is not resolvable: credential refresh
            # happens here, for the whole group, by the connection's own id.
            hook._resolvable = False
            members.append((f"{self.name}@{_display(host, port)}", hook))
        return FailoverGroup(self.name, members, settings=self.settings, probe=_probe)

    def call(self, fn: Callable[[HookT], R], *, repeatable: bool = False) -> R:
        """Run ``fn(hook)`` on the first healthy host (see the module docstring).

        Args:
            fn: The call, given the host's hook.
            repeatable: Whether the call may be sent to another host after a
                :class:`HookConnectionError` (reads and idempotent requests).

        Raises:
            HookConnectionError: no host could answer (or a non-repeatable call lost its host).
            AuthenticationFailed: the credentials were rejected, also after one refresh.
        """
        try:
            return self.group.call(fn, repeatable=repeatable, unavailable=self._unavailable)
        except AuthenticationFailed:
            if not self._refresh():
                raise
        return self.group.call(fn, repeatable=repeatable, unavailable=self._unavailable)

    def _unavailable(self, message: str) -> HookConnectionError:
        return HookConnectionError(message, conn_id=self._conn_id)

    def _refresh(self) -> bool:
        """Resolve the connection again, bypassing caches; rebuild the hooks when it changed."""
        if self._conn_id is None:
            return False
        fresh = get_connection(self._conn_id, fresh=True)
        if fresh == self._connection:
            return False
        with self._lock:
            old, self._group = self._group, self._build(fresh)
            self._connection = fresh
        if old is not None:
            _close_group(old)
        return True

    def close(self) -> None:
        """Stop the prober and close every host's hook."""
        with self._lock:
            group, self._group = self._group, None
        if group is not None:
            _close_group(group)

    def __enter__(self) -> MultiHostHook[HookT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MultiHostHook({self.name!r})"


def _probe(hook: BaseHook[Any]) -> None:
    # The hook's one round trip (what test_connection runs), keeping the error's type: only an
    # outage keeps the breaker open. The hook stays open: a call from before the breaker opened
    # may still be using its client.
    hook._test()


def _close_group(group: FailoverGroup[Any]) -> None:
    group.close()
    for member in group.members:
        member.target.close()
