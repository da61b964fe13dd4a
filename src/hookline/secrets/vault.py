"""HashiCorp Vault / OpenBao backend (hvac), with Airflow's ``VaultBackend`` data layout.

A connection lives at ``{mount_point}/{connections_path}/{conn_id}`` in a KV engine (v2 by default,
v1 with ``kv_engine_version=1``). The secret is a dict: when it has ``conn_uri`` that string is the
connection; otherwise the whole dict is the connection's JSON form (``conn_type``, ``host``, ``login``,
``password``, ``port``, ``schema``, ``extra``). With ``mount_point=None`` the first segment of the path
is the mount, as in Airflow.

Authentication happens once per backend instance, when the client is first needed: ``token`` (or
``token_path``), ``approle`` (``role_id`` + ``secret_id``) or ``userpass`` (``username`` + ``password``).
The token's TTL is tracked; before it runs out the token is renewed (``renew-self``) or, when it cannot
be renewed any more, the backend logs in again. It never logs in per lookup (Airflow PR #71756).

Writes (``hookline connections add --backend vault``), credential-rotation staging and variables come
from :class:`~hookline.secrets.remote_writes.WritableRemoteBackend`. A connection is written as the
JSON fields dict (read back the same way); ``overwrite=False`` is atomic on KV v2 (check-and-set
``cas=0``) and a read-then-write on KV v1. A variable is the secret ``{variables_path}/{key}`` holding
``{"value": ...}``, as Airflow's ``VaultBackend`` stores it. The pending version of a rotation lives
at ``{connections_path}__pending/{conn_id}`` in the same mount (KV v1 and v2 alike). Writing needs
``create``/``update`` (and ``delete`` for deletes; on KV v2 the ``metadata/`` path too) on those
paths; a refusal is :class:`~hookline.exceptions.BackendPermissionDenied`.

hvac is imported when the backend is built, never at ``import hookline``; without it, building one
raises :class:`~hookline.exceptions.MissingDependency` naming the ``hookline[vault]`` extra.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from hookline import masking
from hookline.exceptions import ConfigurationError, MissingDependency
from hookline.secrets.remote import ErrorKind, Verdict
from hookline.secrets.remote_writes import PENDING_SUFFIX, WritableRemoteBackend

__all__ = ["AUTH_TYPES", "VaultBackend"]

log = logging.getLogger(__name__)

#: The authentication methods this backend supports.
AUTH_TYPES = ("token", "approle", "userpass")


def _import_hvac() -> ModuleType:
    try:
        import hvac
    except ImportError as exc:
        raise MissingDependency("hvac", "vault", purpose="the Vault secrets backend") from exc
    module: ModuleType = hvac
    return module


class VaultBackend(WritableRemoteBackend):
    """Connections in HashiCorp Vault or OpenBao KV secrets.

    Args:
        url: Server address, e.g. ``"https://vault.example:8200"`` (default: ``VAULT_ADDR`` via hvac).
        connections_path: Path under the mount holding connections (default ``"connections"``;
            ``None`` switches connection lookups off). A trailing ``/`` is ignored.
        variables_path: Path under the mount holding variables (default ``"variables"``, as in
            Airflow; ``None`` switches variable lookups off).
        variables_lookup_pattern: Regex a variable key must match to cost an API call.
        mount_point: KV engine mount (default ``"secret"``); ``None`` takes it from the first
            segment of ``connections_path``.
        kv_engine_version: 2 (default) or 1.
        auth_type: ``"token"``, ``"approle"`` or ``"userpass"``.
        auth_mount_point: Mount of the auth method (default: the method's name).
        token: Token for ``auth_type="token"`` (default: ``VAULT_TOKEN`` via hvac).
        token_path: File holding the token (re-read when the token is refused).
        role_id: AppRole role id.
        secret_id: AppRole secret id.
        username: Userpass user.
        password: Userpass password.
        namespace: Vault Enterprise / OpenBao namespace.
        verify: TLS verification: True, False or a CA bundle path.
        cert: Client certificate for mutual TLS: ``[cert_path, key_path]`` or one combined path.
        renew_before_s: Renew (or log in again) when the token has less than this left (or less
            than half its TTL, whichever is smaller).
        connections_lookup_pattern: Regex a conn_id must match to cost an API call.
        deadline_s: Total time one lookup may take, retries included.
        max_attempts: Attempts per lookup for retryable errors.
        backoff_initial_s: First backoff wait (doubles per attempt, plus jitter).
        backoff_max_s: Longest single backoff wait.
        max_workers: Concurrent API calls at most.
        clock: Monotonic clock in seconds for token expiry (tests inject a fake one).

    Raises:
        ConfigurationError: an unknown auth type, missing credentials for it, or a bad KV version.
        MissingDependency: hvac is not installed.
    """

    name = "vault"
    default_connections_prefix = "connections"

    def __init__(
        self,
        *,
        url: str | None = None,
        connections_path: str | None = "connections",
        variables_path: str | None = "variables",
        variables_lookup_pattern: str | None = None,
        mount_point: str | None = "secret",
        kv_engine_version: int = 2,
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
        connections_lookup_pattern: str | None = None,
        deadline_s: float = 10.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        max_workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if connections_path is not None:
            connections_path = connections_path.rstrip("/")
        if variables_path is not None:
            variables_path = variables_path.rstrip("/")
        super().__init__(
            variables_prefix=variables_path,
            variables_lookup_pattern=variables_lookup_pattern,
            connections_prefix=connections_path,
            sep="/",
            connections_lookup_pattern=connections_lookup_pattern,
            deadline_s=deadline_s,
            max_attempts=max_attempts,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            max_workers=max_workers,
        )
        if auth_type not in AUTH_TYPES:
            raise ConfigurationError(
                f"vault: auth_type {auth_type!r} is not supported; use one of {', '.join(AUTH_TYPES)}"
            )
        if kv_engine_version not in (1, 2):
            raise ConfigurationError(
                f"vault: kv_engine_version must be 1 or 2, not {kv_engine_version!r}"
            )
        if auth_type == "approle" and not role_id:
            raise ConfigurationError("vault: auth_type 'approle' needs role_id (and secret_id)")
        if auth_type == "userpass" and not (username and password):
            raise ConfigurationError("vault: auth_type 'userpass' needs username and password")
        if auth_type == "token" and token and token_path:
            raise ConfigurationError("vault: give token or token_path, not both")
        self._hvac = _import_hvac()
        self.url = url
        self.connections_path = connections_path
        self.variables_path = variables_path
        self.mount_point = mount_point
        self.kv_engine_version = kv_engine_version
        self.auth_type = auth_type
        self.auth_mount_point = auth_mount_point
        self.token_path = token_path
        self.namespace = namespace
        self.verify = verify
        self.cert: str | tuple[str, ...] | None = (
            cert if cert is None or isinstance(cert, str) else tuple(cert)
        )
        self.renew_before_s = float(renew_before_s)
        self._token = token
        for credential in (token, secret_id, password):  # an SDK error may quote one (requests
            masking.register(credential)  # echoes a bad header value): mask it like a password
        self._role_id = role_id
        self._secret_id = secret_id
        self._username = username
        self._password = password
        self._clock = clock
        self._renew_lock = threading.Lock()
        self._token_expires_at: float | None = None
        self._token_ttl_s: float = 0.0
        self._token_renewable = False

    # -- client and authentication -------------------------------------------------------------

    @property
    def can_login(self) -> bool:
        """Whether a refused or expiring token can be replaced by logging in again."""
        return self.auth_type != "token" or self.token_path is not None

    def _create_client(self) -> Any:
        client = self._hvac.Client(
            url=self.url,
            token=None,
            verify=self.verify,
            cert=self.cert,
            timeout=self.deadline_s,
            namespace=self.namespace,
        )
        if self.auth_type == "approle":
            mount = self.auth_mount_point or "approle"
            response = self._api(
                lambda: client.auth.approle.login(
                    role_id=self._role_id, secret_id=self._secret_id, mount_point=mount
                )
            )
            self._bump("logins")
            self._remember_lease(response.get("auth") or {})
        elif self.auth_type == "userpass":
            mount = self.auth_mount_point or "userpass"
            response = self._api(
                lambda: client.auth.userpass.login(
                    username=self._username, password=self._password, mount_point=mount
                )
            )
            self._bump("logins")
            self._remember_lease(response.get("auth") or {})
        else:
            token = self._token
            if self.token_path is not None:
                token = Path(self.token_path).expanduser().read_text().strip()
                masking.register(token)
                self._bump("logins")
            if token:
                client.token = token
            # learn the token's TTL once, so it can be renewed before it expires
            info = self._api(client.auth.token.lookup_self)
            data = info.get("data") or {}
            self._remember_lease(
                {"lease_duration": data.get("ttl") or 0, "renewable": data.get("renewable")}
            )
        return client

    def _remember_lease(self, auth: dict[str, Any], *, renewed: bool = False) -> None:
        ttl_s = float(auth.get("lease_duration") or 0)
        if not renewed:  # the threshold follows the TTL granted at login, not a shrinking renewal
            self._token_ttl_s = ttl_s
        self._token_renewable = bool(auth.get("renewable"))
        self._token_expires_at = self._clock() + ttl_s if ttl_s > 0 else None

    def _renew_threshold_s(self) -> float:
        return min(self.renew_before_s, self._token_ttl_s / 2)

    def _before_call(self, client: Any) -> Any:
        expires_at = self._token_expires_at
        if expires_at is None or expires_at - self._clock() > self._renew_threshold_s():
            return client
        with self._renew_lock:
            expires_at = self._token_expires_at
            if expires_at is None or expires_at - self._clock() > self._renew_threshold_s():
                return client  # another thread renewed it
            if self._token_renewable:
                try:
                    response = self._api(client.auth.token.renew_self)
                except Exception as exc:
                    if not self.can_login:
                        raise
                    log.debug(
                        "vault: token renewal failed (%s); logging in again", type(exc).__name__
                    )
                else:
                    self._bump("renewals")
                    auth = response.get("auth") or {}
                    self._remember_lease(auth, renewed=True)
                    if float(auth.get("lease_duration") or 0) > self._renew_threshold_s():
                        return client
            if not self.can_login:
                return client  # a static token that cannot be renewed: use it while it lasts
            self._token_expires_at = None
            self._drop_client(client)
        return self._get_client()

    def _close_client(self, client: Any) -> None:
        client.adapter.close()  # hvac's requests session

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._renew_lock = threading.Lock()

    # -- reads ----------------------------------------------------------------------------------

    def _split(self, key: str) -> tuple[str, str]:
        if self.mount_point is None:
            mount, _, path = key.partition("/")
            return mount, path
        return self.mount_point, key

    def _read(self, client: Any, key: str) -> str | None:
        mount, path = self._split(key)
        if self.kv_engine_version == 2:
            response = self._api(
                lambda: client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=True
                )
            )
            data = (response.get("data") or {}).get("data")
        else:
            response = self._api(
                lambda: client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
            )
            data = response.get("data")
        return self._to_text(data)

    @staticmethod
    def _to_text(data: Any) -> str | None:
        if not isinstance(data, dict) or not data:
            return None
        uri = data.get("conn_uri")
        if isinstance(uri, str):
            return uri
        return json.dumps(data)

    def _list(self, client: Any) -> dict[str, str]:
        """One LIST of the connections path, then one read per connection."""
        base = self.connections_path or ""
        mount, path = self._split(base)
        engine = client.secrets.kv.v2 if self.kv_engine_version == 2 else client.secrets.kv.v1
        try:
            listing = self._api(lambda: engine.list_secrets(path=path, mount_point=mount))
        except self._hvac.exceptions.InvalidPath:
            return {}  # nothing stored under the path yet
        keys = (listing.get("data") or {}).get("keys") or []
        found: dict[str, str] = {}
        for name in keys:
            if not isinstance(name, str) or name.endswith("/"):
                continue
            try:
                text = self._read(client, f"{base}/{name}" if base else name)
            except self._hvac.exceptions.InvalidPath:
                continue  # deleted between the list and the read
            if text is not None:
                found[name] = text
        return found

    # -- documents (writes, staging, variables) -------------------------------------------------

    def pending_key(self, conn_id: str) -> str:
        """``{connections_path}__pending/{conn_id}``; ``{mount}/__pending/{conn_id}`` when the
        path is only the mount (``mount_point=None``)."""
        key = super().pending_key(conn_id)
        if self.mount_point is None and "/" not in (self.connections_path or ""):
            return f"{self.connections_path}/{PENDING_SUFFIX}/{conn_id}"
        return key

    def _kv(self, client: Any) -> Any:
        return client.secrets.kv.v2 if self.kv_engine_version == 2 else client.secrets.kv.v1

    def _get_doc(self, client: Any, key: str) -> str | None:
        mount, path = self._split(key)
        if self.kv_engine_version == 2:
            response = self._api(
                lambda: client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=True
                )
            )
            data = (response.get("data") or {}).get("data")
        else:
            response = self._api(
                lambda: client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
            )
            data = response.get("data")
        return json.dumps(data) if isinstance(data, dict) and data else None

    def _exists(self, client: Any, mount: str, path: str) -> bool:
        try:
            if self.kv_engine_version == 2:
                self._api(
                    lambda: client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)
                )
            else:
                self._api(lambda: client.secrets.kv.v1.read_secret(path=path, mount_point=mount))
        except self._hvac.exceptions.InvalidPath:
            return False
        return True

    def _put_doc(self, client: Any, key: str, text: str, *, overwrite: bool) -> bool:
        mount, path = self._split(key)
        secret = json.loads(text)
        if not isinstance(secret, dict):
            raise TypeError("a Vault secret must be a JSON object")
        if self.kv_engine_version == 1:
            if not overwrite and self._exists(client, mount, path):
                return False
            self._api(
                lambda: client.secrets.kv.v1.create_or_update_secret(
                    path=path, secret=secret, mount_point=mount
                )
            )
            return True
        cas = None if overwrite else 0  # check-and-set 0: only when nothing is stored
        try:
            self._api(
                lambda: client.secrets.kv.v2.create_or_update_secret(
                    path=path, secret=secret, cas=cas, mount_point=mount
                )
            )
        except self._hvac.exceptions.InvalidRequest as exc:
            if cas == 0 and "check-and-set" in str(exc):
                return False
            raise
        return True

    def _delete_doc(self, client: Any, key: str) -> bool:
        mount, path = self._split(key)
        if not self._exists(client, mount, path):
            return False
        if self.kv_engine_version == 2:
            self._api(
                lambda: client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=path, mount_point=mount
                )
            )
        else:
            self._api(lambda: client.secrets.kv.v1.delete_secret(path=path, mount_point=mount))
        return True

    def _variable_from_doc(self, text: str) -> str | None:
        """Airflow's layout: the secret's ``value`` field."""
        value = json.loads(text).get("value")
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    def _variable_doc(self, value: str) -> str:
        return json.dumps({"value": value})

    # -- errors ---------------------------------------------------------------------------------

    def _classify(self, exc: BaseException) -> Verdict:
        import requests

        errors = self._hvac.exceptions
        reason = type(exc).__name__
        if isinstance(exc, errors.InvalidPath):
            return Verdict(ErrorKind.ABSENT, reason)
        if isinstance(exc, errors.Forbidden | errors.Unauthorized):
            return Verdict(ErrorKind.REAUTH if self.can_login else ErrorKind.DENIED, reason)
        if isinstance(
            exc,
            errors.RateLimitExceeded
            | errors.InternalServerError
            | errors.BadGateway
            | errors.VaultDown
            | errors.VaultNotInitialized,
        ):
            return Verdict(ErrorKind.RETRY, reason)
        if isinstance(exc, requests.exceptions.SSLError):
            return Verdict(ErrorKind.FAIL, f"{reason}: TLS handshake failed; check verify and cert")
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return Verdict(ErrorKind.RETRY, reason)
        if isinstance(exc, OSError) and self.token_path is not None:
            return Verdict(ErrorKind.FAIL, f"{reason}: cannot read token_path")
        return super()._classify(exc)

    def __repr__(self) -> str:
        return (
            f"VaultBackend(url={self.url!r}, mount_point={self.mount_point!r}, "
            f"connections_path={self.connections_path!r}, variables_path={self.variables_path!r}, "
            f"kv_engine_version={self.kv_engine_version}, auth_type={self.auth_type!r})"
        )
