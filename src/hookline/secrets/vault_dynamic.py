"""Vault / OpenBao *dynamic* database credentials: connections whose login and password are leases.

The ``vault_dynamic`` backend serves the connections it is configured with; each one's login and
password come from the database secrets engine (``<mount>/creds/<role>``) and everything else
(``conn_type``, ``host``, ``port``, ``schema``, ``extra``) from the backend's settings::

    [secrets]
    backends = ["env", "vault_dynamic", "metastore"]

    [secrets.backend.vault_dynamic]
    url = "https://vault.example:8200"
    auth_type = "approle"                 # token, approle or userpass, as the vault backend
    role_id = "..."
    secret_id = "..."
    mount_point = "database"              # the database engine's mount (default "database")

    [secrets.backend.vault_dynamic.connections.warehouse]
    role = "warehouse-readonly"           # -> database/creds/warehouse-readonly
    conn_type = "postgres"
    host = "db.internal"
    port = 5432
    schema = "analytics"
    extra = { sslmode = "require" }

A conn_id that is not configured is not handled (the chain asks the next backend, no API call).

**Leases** (:mod:`hookline.secrets.leases`): the first lookup of a connection issues credentials;
a background thread renews the lease at 2/3 of the granted time and, when the engine stops
extending it (``max_ttl``), issues new credentials a quarter of the lease's duration before its
end (``reissue_before_s``). The previous lease is revoked after ``revoke_grace_s`` or just before
it would expire anyway, and every lease is revoked on :meth:`VaultDynamicBackend.close` and at
interpreter exit.

**Switching users without failing a query.** When new credentials are issued, the backend

1. makes them current (lookups return them at once),
2. moves its change counter (it is ``watchable``: caches in front of the chain drop what they hold)
   and drops the connection from the default resolver's cache at once,
3. renews the shared SQL engines of the conn_id (:meth:`~hookline.hooks.sql.engines.SharedEngine.renew`,
   only if SQL hooks are in use): their ``do_connect`` event asks the resolver for credentials, so new
   DB connections log in as the new user; pooled connections of the old user are replaced at their
   next checkout and checked-out ones finish their statement first (generation-based soft
   invalidation);
4. renews the engines once more ``settle_s`` later (a cache that only polls the change counter may
   have served the old credentials to a connection opened in between);
5. emits :class:`~hookline.events.CredentialsRefreshed` (``hook`` is the backend's name,
   ``changed=True``).

The old user stays valid during the grace period, so statements running on its connections finish.
A connection that a hook holds for longer than the grace period (``hook.get_conn()`` kept open) is not
covered: it fails once the old lease is revoked, and the hook's refresh-on-authentication-failure
path reconnects.

**Secrets.** Issued passwords are registered for masking when issued; they are never logged, and
neither repr, events nor error messages hold them. Lease ids appear in logs only shortened.
Background failures are logged as the error type and hookline's own message and retried with
backoff; a lookup that needs credentials the engine cannot issue raises
:class:`~hookline.exceptions.BackendUnavailable` (unreachable) or
:class:`~hookline.exceptions.BackendPermissionDenied` (the token may not read ``creds/<role>``); an
unknown role is a :class:`~hookline.exceptions.ConfigurationError`.
"""

from __future__ import annotations

import atexit
import logging
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hookline import events
from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    HooklineError,
    InvalidConnection,
)
from hookline.secrets.leases import IssuedLease, Lease, LeaseManager
from hookline.secrets.remote import ErrorKind, Verdict
from hookline.secrets.vault import VaultBackend

__all__ = ["CONNECTION_KEYS", "VaultDynamicBackend"]

log = logging.getLogger(__name__)

#: The keys of one ``connections.<conn_id>`` table.
CONNECTION_KEYS = (
    "role",
    "mount_point",
    "conn_type",
    "host",
    "port",
    "schema",
    "extra",
    "description",
)


def _base_connection(
    conn_id: str, spec: object, backend: str, default_mount: str
) -> tuple[str, str, Connection]:
    """``(mount, role, base connection)`` from one ``connections.<conn_id>`` table."""
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{backend}: connections.{conn_id} must be a table")
    unknown = sorted(set(spec) - set(CONNECTION_KEYS))
    if unknown:
        from hookline.config import closest

        hints = []
        for key in unknown:
            suggestion = closest(key, CONNECTION_KEYS)
            hints.append(f"{key!r}" + (f" (did you mean {suggestion!r}?)" if suggestion else ""))
        raise ConfigurationError(
            f"{backend}: connections.{conn_id}: unknown key(s) {', '.join(hints)}; known: "
            f"{', '.join(CONNECTION_KEYS)} (login and password come from the database engine)"
        )
    role = spec.get("role")
    if not isinstance(role, str) or not role or "/" in role or ".." in role:
        raise ConfigurationError(
            f"{backend}: connections.{conn_id} needs role = the name of a database engine role"
        )
    mount = spec.get("mount_point", default_mount)
    if not isinstance(mount, str) or not mount.strip("/"):
        raise ConfigurationError(f"{backend}: connections.{conn_id}: mount_point must be a path")
    if not spec.get("conn_type"):
        raise ConfigurationError(f"{backend}: connections.{conn_id} needs conn_type")
    fields = {
        key: spec[key]
        for key in ("conn_type", "host", "port", "schema", "extra", "description")
        if key in spec
    }
    try:
        base = Connection(conn_id=conn_id, **fields)
    except (InvalidConnection, TypeError) as exc:
        raise ConfigurationError(f"{backend}: connections.{conn_id}: {exc}") from None
    return mount.strip("/"), role, base


class VaultDynamicBackend(VaultBackend):
    """Connections whose login and password are Vault/OpenBao database-engine leases.

    See the module docs for the design. Authentication and transport settings are those of
    :class:`~hookline.secrets.vault.VaultBackend` (``url``, ``auth_type``, ``token``, ``role_id``,
    ``secret_id``, ``namespace``, ``verify``, ``cert``, ``deadline_s``, ...; ``renew_before_s`` is
    about the Vault *token*).

    Args:
        connections: ``{conn_id: {role, conn_type, host, port, schema, extra, description,
            mount_point}}``: the connections served; ``role`` and ``conn_type`` are required.
        mount_point: The database engine's mount (default ``"database"``); a connection's own
            ``mount_point`` overrides it.
        renew_fraction: Renew a lease after this fraction of the granted time (default 2/3).
        reissue_before_s: Issue new credentials when the lease ends in less than this (default: a
            quarter of the lease's duration, 1-300 s).
        revoke_grace_s: Revoke the replaced lease this long after new credentials were issued
            (default: just before it would expire).
        settle_s: Renew the SQL engines a second time this long after a re-issue.
        retry_initial_s, retry_max_s: Backoff of failed renewals, re-issues and revocations.

    Raises:
        ConfigurationError: no connections, a connection without role or conn_type, an unknown
            key, or a bad value.
        MissingDependency: hvac is not installed.
    """

    name = "vault_dynamic"
    listable = False
    watchable = True

    def __init__(
        self,
        *,
        connections: Mapping[str, Mapping[str, Any]],
        mount_point: str = "database",
        url: str | None = None,
        auth_type: str = "token",
        auth_mount_point: str | None = None,
        token: str | None = None,
        token_path: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        namespace: str | None = None,
        verify: bool | str = True,
        cert: str | Sequence[str] | None = None,
        renew_before_s: float = 60.0,
        renew_fraction: float = 2 / 3,
        reissue_before_s: float | None = None,
        revoke_grace_s: float | None = None,
        settle_s: float = 1.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        deadline_s: float = 10.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        max_workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            url=url,
            connections_path=None,
            mount_point=None,
            auth_type=auth_type,
            auth_mount_point=auth_mount_point,
            token=token,
            token_path=token_path,
            role_id=role_id,
            secret_id=secret_id,
            username=username,
            password=password,
            namespace=namespace,
            verify=verify,
            cert=cert,
            renew_before_s=renew_before_s,
            deadline_s=deadline_s,
            max_attempts=max_attempts,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            max_workers=max_workers,
            clock=clock,
        )
        if not isinstance(connections, Mapping) or not connections:
            raise ConfigurationError(
                f"{self.name}: connections is empty; add a [secrets.backend.<name>.connections."
                "<conn_id>] table with role and conn_type"
            )
        self.database_mount_point = mount_point
        self._roles: dict[str, tuple[str, str]] = {}
        self._bases: dict[str, Connection] = {}
        for conn_id, spec in connections.items():
            mount, role, base = _base_connection(str(conn_id), spec, self.name, mount_point)
            self._roles[str(conn_id)] = (mount, role)
            self._bases[str(conn_id)] = base
        self._built: dict[str, tuple[str, Connection]] = {}
        self._changes = 0
        self.leases = LeaseManager(
            self,
            list(self._roles),
            name=self.name,
            renew_fraction=renew_fraction,
            reissue_before_s=reissue_before_s,
            revoke_grace_s=revoke_grace_s,
            settle_s=settle_s,
            retry_initial_s=retry_initial_s,
            retry_max_s=retry_max_s,
            on_change=self._credentials_changed,
            clock=clock,
        )
        self._atexit = _weak_closer(self)
        atexit.register(self._atexit)

    # -- the lookup contract ----------------------------------------------------------------------

    def wants(self, conn_id: str) -> bool:
        """Whether ``conn_id`` is one of the configured connections."""
        return conn_id in self._roles

    def handles(self, conn_id: str) -> bool:
        return conn_id in self._roles

    def lookup_keys(self, conn_id: str) -> list[str]:
        found = self._roles.get(conn_id)
        return [] if found is None else [f"{found[0]}/creds/{found[1]}"]

    def get_connection(self, conn_id: str) -> Connection | None:
        """The configured connection with the current lease's login and password, or None when
        ``conn_id`` is not configured here.

        Raises:
            BackendUnavailable: no valid lease and the engine could not issue one.
            BackendPermissionDenied: the engine refused to issue credentials.
            ConfigurationError: the role does not exist on the mount.
        """
        base = self._bases.get(conn_id)
        if base is None:
            self._bump("skipped")
            return None
        self._bump("lookups")
        lease = self.leases.credentials(conn_id)
        built = self._built.get(conn_id)
        if built is not None and built[0] == lease.lease_id:
            return built[1]
        conn = base.replace(login=lease.login, password=lease.password)
        self._built[conn_id] = (lease.lease_id, conn)
        return conn

    def get_conn_value(self, conn_id: str) -> str | None:
        conn = self.get_connection(conn_id)
        return None if conn is None else conn.to_json()

    def prefetch(self) -> dict[str, str]:
        """Nothing: credentials are issued on first use, never in bulk."""
        return {}

    def change_counter_if_open(self) -> int | None:
        """Moves each time new credentials replace the current ones (caches drop their entries)."""
        return self._changes

    # -- the lease api (for the LeaseManager) ---------------------------------------------------------

    def issue(self, conn_id: str) -> IssuedLease:
        mount, role = self._roles[conn_id]
        what = f"issue credentials {mount}/creds/{role}"
        # Not idempotent: each call creates a database user and a lease. A retry after a lost
        # answer would leave one nobody revokes, so it is attempted once; the lease thread
        # retries with backoff and a lookup raises the typed error.
        response = self._call(
            what,
            lambda client: self._api(
                lambda: client.secrets.database.generate_credentials(name=role, mount_point=mount)
            ),
            retry=False,
        )
        if response is None:
            raise ConfigurationError(
                f"{self.name}: {mount}/creds/{role} for {conn_id!r}: the engine does not know the "
                "role (or nothing is mounted there)"
            )
        data = response.get("data") or {}
        username, secret = data.get("username"), data.get("password")
        lease_id = response.get("lease_id")
        if not (isinstance(username, str) and isinstance(secret, str) and lease_id):
            raise ConfigurationError(
                f"{self.name}: {mount}/creds/{role} answered without username, password and "
                "lease: is it a dynamic database role?"
            )
        return IssuedLease(
            lease_id=str(lease_id),
            duration_s=float(response.get("lease_duration") or 0),
            renewable=bool(response.get("renewable")),
            login=username,
            password=secret,
        )

    def renew(self, lease_id: str, increment_s: float) -> IssuedLease:
        response = self._call(
            "renew a lease",
            lambda client: self._api(
                lambda: client.sys.renew_lease(lease_id=lease_id, increment=int(increment_s))
            ),
        )
        if response is None:  # the engine no longer knows the lease
            return IssuedLease(lease_id=lease_id, duration_s=0, renewable=False)
        return IssuedLease(
            lease_id=lease_id,
            duration_s=float(response.get("lease_duration") or 0),
            renewable=bool(response.get("renewable")),
        )

    def revoke(self, lease_id: str) -> None:
        """Revoke a lease, in the calling thread (it runs at interpreter exit too, when worker
        pools no longer start); the client's timeout is ``deadline_s``."""
        try:
            self._attempt(
                lambda client: self._api(lambda: client.sys.revoke_lease(lease_id=lease_id))
            )
        except HooklineError:
            raise
        except Exception as exc:
            verdict = self._classify(exc)
            if verdict.kind is ErrorKind.ABSENT:
                return  # already gone
            if verdict.kind in (ErrorKind.DENIED, ErrorKind.REAUTH):
                raise BackendPermissionDenied(
                    f"{self.name} backend refused access: revoke a lease ({verdict.reason})",
                    backend=self.name,
                ) from exc
            raise BackendUnavailable(
                f"{self.name} backend unavailable: revoke a lease failed ({verdict.reason})",
                backend=self.name,
            ) from exc

    def _classify(self, exc: BaseException) -> Verdict:
        # 400 from the database engine and sys/leases: "unknown role", "lease not found",
        # "invalid lease". Nothing to retry: the callers say what it means.
        if isinstance(exc, self._hvac.exceptions.InvalidRequest):
            return Verdict(ErrorKind.ABSENT, type(exc).__name__)
        return super()._classify(exc)

    # -- switching to new credentials ---------------------------------------------------------------

    def _credentials_changed(self, conn_id: str) -> None:
        """New credentials replaced the current ones of ``conn_id`` (see the module docs)."""
        self._changes += 1
        self._built.pop(conn_id, None)
        _drop_from_default_cache(self, conn_id)
        engines = sys.modules.get("hookline.hooks.sql.engines")
        if engines is not None:
            for shared in engines.shared_engines(conn_id):
                if shared.credentials.kind == "resolved":
                    shared.renew()
        bus = events.default_bus
        if bus.active:
            bus.emit(events.CredentialsRefreshed(conn_id=conn_id, hook=self.name, changed=True))

    def current_lease(self, conn_id: str) -> Lease | None:
        """The lease ``conn_id``'s credentials come from now, or None before the first lookup."""
        for lease in self.leases.leases():
            if lease.conn_id == conn_id and lease.revoke_at == float("inf"):
                return lease
        return None

    def close(self) -> None:
        """Stop renewing, revoke every lease, then close the Vault client. Safe to call twice; the
        backend serves no lookup afterwards (:class:`~hookline.exceptions.ConfigurationError`)."""
        atexit.unregister(self._atexit)
        self.leases.close(revoke=True)
        super().close()

    def __repr__(self) -> str:
        return (
            f"VaultDynamicBackend(url={self.url!r}, mount_point={self.database_mount_point!r}, "
            f"connections={sorted(self._roles)!r}, auth_type={self.auth_type!r})"
        )


def _weak_closer(backend: VaultDynamicBackend) -> Callable[[], None]:
    ref = weakref.ref(backend)

    def close_at_exit() -> None:
        live = ref()
        if live is not None:
            live.close()

    return close_at_exit


def _drop_from_default_cache(backend: VaultDynamicBackend, conn_id: str) -> None:
    """Drop ``conn_id`` from the default resolver's cache when its chain holds ``backend`` (other
    caches notice through the change counter)."""
    cache_module = sys.modules.get("hookline.resolve.cache")
    if cache_module is None:
        return
    from hookline.resolve.default import current_resolver

    resolver = current_resolver()
    if isinstance(resolver, cache_module.CachedResolver) and any(
        member is backend for member in resolver.chain.backends
    ):
        resolver.invalidate(conn_id)
