"""GoogleBaseHook: Google Cloud credentials from a ``google_cloud_platform`` connection.

Extras are read as Airflow's Google provider reads them, under their short name or with the old
``extra__google_cloud_platform__`` prefix (the short name wins when both are present, and an empty
short value counts as unset without falling back, as in Airflow):

* ``key_path``: a service-account JSON key file; ``keyfile_dict``: the key itself (JSON text or an
  object). Both are secrets: registered for masking (the private key too) and never quoted in an
  error, including a JSON parse error. Giving both is an error.
* ``project``: the project id (else the key's or the environment's); ``scope``: comma-separated
  OAuth scopes (default ``https://www.googleapis.com/auth/cloud-platform``); ``num_retries``:
  retries of a transient API failure (default 5).
* ``impersonation_chain``: a service account to impersonate (or a comma-separated chain, the last
  one impersonated through the others), also a hook argument, which wins.
* ``api_endpoint`` with ``anonymous: true`` (Airflow's ``is_anonymous`` too): talk to a local
  emulator with no credentials.
* With no key, application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's, the
  metadata server) are used.

Extras that Airflow reads but hookline cannot honour yet (``key_secret_name``,
``credential_config_file``) are an error rather than silently ignored.

Clients are shared: :meth:`GoogleBaseHook.shared_client` keeps one client per ``(kind, conn_id,
credential fingerprint, ...)`` per process, built once under a lock and reused by every hook on the
same connection. The fingerprint is a SHA-256 digest of the credential settings (and the key file's
size and modification time), never the key. An authentication failure refreshes the connection once
(bypassing caches); a changed connection or key file gives a new fingerprint and so a new client.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeVar

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    GoogleApiError,
    HookConnectionError,
    HookError,
    InvalidConnection,
    MissingDependency,
)
from hookline.hooks.base import BaseHook
from hookline.options import parse_bool, parse_int

__all__ = [
    "DEFAULT_SCOPES",
    "EXTRA_PREFIX",
    "GoogleBaseHook",
    "clear_client_cache",
    "google_error",
]

T = TypeVar("T")

EXTRA_PREFIX: Final = "extra__google_cloud_platform__"
DEFAULT_SCOPES: Final = ("https://www.googleapis.com/auth/cloud-platform",)
_UNSUPPORTED: Final = ("key_secret_name", "credential_config_file")
#: BigQuery's retryable error reasons (as the SDK's own default retry reads them).
_RETRYABLE_REASONS: Final = frozenset(
    {"backendError", "internalError", "badGateway", "rateLimitExceeded"}
)
_DENIED_REASONS: Final = frozenset({"accessDenied", "forbidden", "authError", "unauthorized"})

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def clear_client_cache() -> None:
    """Forget (and close) every shared Google client of this process (tests, benchmarks, forks)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        _close_quietly(client)


def _close_quietly(client: Any) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):  # closing a dropped client must never fail the caller
            close()


def _google_auth() -> Any:
    try:
        import google.auth
    except ImportError as exc:
        raise MissingDependency("google-auth", "google", purpose="Google Cloud hooks") from exc
    return google.auth


def google_error(exc: BaseException, *, conn_id: str, what: str) -> HookError:
    """Translate a google-auth / google-api-core / requests error into a hookline error.

    * authentication failures (a refused token, no usable credentials, 401, 403 ``accessDenied``)
      -> :class:`AuthenticationFailed` (the hook refreshes its connection once and retries);
    * an unreachable endpoint, a timeout, retries exhausted on transport errors
      -> :class:`HookConnectionError`;
    * any other API error -> :class:`GoogleApiError` with the HTTP status and the API's reason.

    The message names ``what`` was done, the status and the reason; it is masked.
    """
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return AuthenticationFailed(
            masking.redact(
                f"{what}: no Google credentials found for connection {conn_id!r}: set key_path or "
                "keyfile_dict, or configure application default credentials"
            ),
            conn_id=conn_id,
        )
    if isinstance(exc, auth_exc.RefreshError):
        return AuthenticationFailed(
            masking.redact(f"{what}: Google refused the credentials of connection {conn_id!r}"),
            conn_id=conn_id,
        )
    if isinstance(exc, auth_exc.TransportError) or _is_transport_error(exc):
        return HookConnectionError(
            masking.redact(
                f"{what}: the Google API endpoint of connection {conn_id!r} could not be reached "
                f"({type(exc).__name__})"
            ),
            conn_id=conn_id,
        )
    if isinstance(exc, gexc.GoogleAPICallError):
        status = int(exc.code or 0)
        reason = str(getattr(exc, "reason", "") or "") or _first_reason(exc)
        detail = str(exc.message or "").strip().splitlines()[0:1]
        text = f"{what} failed: HTTP {status} {reason or type(exc).__name__}"
        if detail:
            text += f": {detail[0][:300]}"
        message = masking.redact(text)
        if status == 401 or (status == 403 and reason in _DENIED_REASONS):
            return AuthenticationFailed(message, conn_id=conn_id)
        return GoogleApiError(message, conn_id=conn_id, status_code=status, reason=reason)
    return HookError(masking.redact(f"{what} failed: {type(exc).__name__}"), conn_id=conn_id)


def _first_reason(exc: Any) -> str:
    for error in getattr(exc, "errors", None) or ():
        if isinstance(error, Mapping) and error.get("reason"):
            return str(error["reason"])
    return ""


def _is_transport_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with google-auth's transport
        return False
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def is_transient(exc: BaseException) -> bool:
    """True for failures a retry may fix: 429, 500, 502, 503, 504, the retryable BigQuery reasons,
    connection errors and timeouts."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if _is_transport_error(exc) or isinstance(exc, auth_exc.TransportError):
        return True
    if isinstance(exc, gexc.GoogleAPICallError):
        if exc.code in (429, 500, 502, 503, 504):
            return True
        return _first_reason(exc) in _RETRYABLE_REASONS
    return False


class GoogleBaseHook(BaseHook[Any]):
    """Credentials, project and shared clients for Google Cloud hooks.

    Args:
        conn: A conn_id or a Connection (``gcp_conn_id=`` is accepted too).
        impersonation_chain: A service account email to impersonate, or a chain of them (the last is
            impersonated through the others); overrides the ``impersonation_chain`` extra.
        num_retries: Retries of a transient API failure (default: extra ``num_retries``, else 5).
        retry_delay_s: First backoff delay between retries (doubled each time, capped at 30 s).
        retry_timeout_s: Overall bound on the retries of one call.

    ``get_conn()`` returns the google-auth credentials (AnonymousCredentials for an emulator).
    """

    conn_type: ClassVar[str] = "google_cloud_platform"
    hook_name: ClassVar[str] = "Google Cloud"
    default_conn_name: ClassVar[str] = "google_cloud_default"
    conn_name_attr: ClassVar[str] = "gcp_conn_id"

    def __init__(
        self,
        conn: str | Connection | None = None,
        *,
        impersonation_chain: str | Sequence[str] | None = None,
        num_retries: int | None = None,
        retry_delay_s: float = 1.0,
        retry_timeout_s: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        self._impersonation_chain = impersonation_chain
        self._num_retries = num_retries
        self.retry_delay_s = retry_delay_s
        self.retry_timeout_s = retry_timeout_s
        self._fingerprint: tuple[Connection, str] | None = None
        self._shared_keys: set[tuple[Any, ...]] = set()
        self._credentials: tuple[str, Any, str | None] | None = None
        self._lock = threading.Lock()

    # -- extras ------------------------------------------------------------------------------

    def _get_field(self, name: str, default: Any = None) -> Any:
        """An extra by its short name, else with the ``extra__google_cloud_platform__`` prefix.

        As in Airflow: when the short name is present its value is used, an empty one as None.
        """
        extra = self.connection.extra
        value = extra[name] if name in extra else extra.get(EXTRA_PREFIX + name)
        if value is None or value == "":
            return default
        return value

    def _check_supported(self) -> None:
        for name in _UNSUPPORTED:
            if self._get_field(name) is not None:
                raise InvalidConnection(
                    f"connection {self.conn_id!r} sets the extra {name!r}, which hookline does not "
                    "support yet; use key_path, keyfile_dict or application default credentials",
                    conn_id=self.conn_id,
                )

    @property
    def project_id(self) -> str | None:
        """The project: the ``project`` extra, else the key's or the environment's project."""
        project = self._get_field("project")
        if project:
            return str(project)
        return self.get_credentials_and_project_id()[1]

    @property
    def scopes(self) -> list[str]:
        """OAuth scopes: the comma-separated ``scope`` extra, else cloud-platform."""
        scope = self._get_field("scope")
        if isinstance(scope, str):
            return [s.strip() for s in scope.split(",") if s.strip()] or list(DEFAULT_SCOPES)
        if isinstance(scope, list | tuple):
            return [str(s) for s in scope]
        return list(DEFAULT_SCOPES)

    @property
    def num_retries(self) -> int:
        """Retries of a transient failure: argument, else the ``num_retries`` extra, else 5."""
        if self._num_retries is not None:
            return parse_int(self._num_retries, name="num_retries", minimum=0, conn_id=self.conn_id)
        value = self._get_field("num_retries")
        if value is None or (isinstance(value, str) and not value.strip()):
            return 5
        return parse_int(value, name="num_retries", minimum=0, conn_id=self.conn_id)

    @property
    def impersonation_chain(self) -> list[str]:
        """The accounts to impersonate, in order (empty: none)."""
        chain: Any = self._impersonation_chain
        if chain is None:
            chain = self._get_field("impersonation_chain")
        if chain is None:
            return []
        if isinstance(chain, str):
            return [part.strip() for part in chain.split(",") if part.strip()]
        return [str(part) for part in chain]

    @property
    def anonymous(self) -> bool:
        """True for anonymous credentials (a local emulator): ``anonymous`` or ``is_anonymous``."""
        for name in ("anonymous", "is_anonymous"):
            value = self._get_field(name)
            if value is not None:
                return parse_bool(value, name=name, conn_id=self.conn_id)
        return False

    @property
    def api_endpoint(self) -> str | None:
        """The ``api_endpoint`` extra (an emulator's URL), or None for Google's endpoints."""
        endpoint = self._get_field("api_endpoint")
        return str(endpoint).rstrip("/") if endpoint else None

    # -- credentials -------------------------------------------------------------------------

    def _keyfile_info(self) -> dict[str, Any] | None:
        """The parsed ``keyfile_dict``, its secrets registered; parse errors never quote it."""
        raw = self._get_field("keyfile_dict")
        if raw is None:
            return None
        if isinstance(raw, Mapping):
            info = dict(raw)
        else:
            text = str(raw)
            masking.register(text)
            try:
                info = json.loads(text)
            except ValueError as exc:
                position = getattr(exc, "pos", None)
                where = f" near character {position}" if position is not None else ""
                # from None: the JSON error keeps the whole document in ``exc.doc``.
                raise InvalidConnection(
                    f"connection {self.conn_id!r}: the keyfile_dict extra is not valid JSON{where}",
                    conn_id=self.conn_id,
                ) from None
            if not isinstance(info, dict):
                raise InvalidConnection(
                    f"connection {self.conn_id!r}: the keyfile_dict extra must be a JSON object",
                    conn_id=self.conn_id,
                )
        for name in ("private_key", "private_key_id", "client_secret", "refresh_token"):
            value = info.get(name)
            if isinstance(value, str):
                masking.register(value)
        return info

    def credential_fingerprint(self) -> str:
        """A digest of what the credentials and client are built from (never the key itself).

        It changes when the connection's credential extras change, and when the key file named by
        ``key_path`` (or ``GOOGLE_APPLICATION_CREDENTIALS``) is replaced in place.
        """
        conn = self.connection
        cached = self._fingerprint
        if cached is not None and cached[0] is conn:
            return cached[1]
        key_path = self._get_field("key_path")
        adc_path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        keyfile = self._get_field("keyfile_dict")
        material = {
            "key_path": key_path,
            "key_file": _file_stamp(key_path),
            "keyfile_dict": keyfile if isinstance(keyfile, str) else _canonical(keyfile),
            "adc": (adc_path, _file_stamp(adc_path)) if not (key_path or keyfile) else None,
            "scopes": self.scopes,
            "chain": self.impersonation_chain,
            "anonymous": self.anonymous,
            "api_endpoint": self.api_endpoint,
            "project": self._get_field("project"),
        }
        digest = hashlib.sha256(_canonical(material).encode()).hexdigest()[:20]
        self._fingerprint = (conn, digest)
        return digest

    def get_credentials_and_project_id(self) -> tuple[Any, str | None]:
        """Build (once per fingerprint) the credentials and the project id they belong to.

        Raises:
            InvalidConnection: both key_path and keyfile_dict, an unreadable or malformed key, or an
                unsupported extra.
            AuthenticationFailed: no key given and no application default credentials found.
            MissingDependency: google-auth is not installed (extra ``google``).
        """
        fingerprint = self.credential_fingerprint()
        cached = self._credentials
        if cached is not None and cached[0] == fingerprint:
            return cached[1], cached[2]
        with self._lock:
            credentials, project = self._build_credentials()
            self._credentials = (fingerprint, credentials, project)
        return credentials, project

    def _build_credentials(self) -> tuple[Any, str | None]:
        google_auth = _google_auth()
        self._check_supported()
        project = self._get_field("project")
        if self.anonymous:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials(), (str(project) if project else None)  # type: ignore[no-untyped-call]
        key_path = self._get_field("key_path")
        info = self._keyfile_info()
        if key_path and info is not None:
            raise InvalidConnection(
                f"connection {self.conn_id!r}: the key_path and keyfile_dict extras are mutually "
                "exclusive; set only one",
                conn_id=self.conn_id,
            )
        scopes = self.scopes
        if key_path:
            info = self._read_key_file(str(key_path))
        if info is not None:
            credentials = self._service_account(info, scopes)
            project = project or info.get("project_id")
        else:
            try:
                credentials, default_project = google_auth.default(scopes=scopes)
            except Exception as exc:
                raise google_error(exc, conn_id=self.conn_id, what="loading credentials") from exc
            project = project or default_project
        chain = self.impersonation_chain
        if chain:
            from google.auth import impersonated_credentials

            credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
                source_credentials=credentials,
                target_principal=chain[-1],
                delegates=chain[:-1] or None,
                target_scopes=scopes,
            )
        return credentials, (str(project) if project else None)

    def _read_key_file(self, path: str) -> dict[str, Any]:
        if not path.endswith(".json"):
            raise InvalidConnection(
                f"connection {self.conn_id!r}: key_path must name a JSON key file (.json); "
                "P12 keys are not supported",
                conn_id=self.conn_id,
            )
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as exc:
            raise InvalidConnection(
                f"connection {self.conn_id!r}: cannot read the key file {path!r} "
                f"({type(exc).__name__})",
                conn_id=self.conn_id,
            ) from None
        masking.register(text)
        try:
            info = json.loads(text)
        except ValueError:
            raise InvalidConnection(
                f"connection {self.conn_id!r}: the key file {path!r} is not valid JSON",
                conn_id=self.conn_id,
            ) from None
        if not isinstance(info, dict):
            raise InvalidConnection(
                f"connection {self.conn_id!r}: the key file {path!r} is not a JSON object",
                conn_id=self.conn_id,
            )
        for name in ("private_key", "private_key_id"):
            if isinstance(info.get(name), str):
                masking.register(info[name])
        return info

    def _service_account(self, info: dict[str, Any], scopes: list[str]) -> Any:
        from google.oauth2 import service_account

        kind = info.get("type", "service_account")
        if kind != "service_account":
            raise InvalidConnection(
                f"connection {self.conn_id!r}: the key is of type {kind!r}; only service_account "
                "keys are supported",
                conn_id=self.conn_id,
            )
        try:
            return service_account.Credentials.from_service_account_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError, TypeError) as exc:
            missing = f" (missing {exc})" if isinstance(exc, KeyError) else ""
            raise InvalidConnection(
                f"connection {self.conn_id!r}: the service-account key is malformed{missing}",
                conn_id=self.conn_id,
            ) from None

    def get_conn(self) -> Any:
        """The google-auth credentials of this connection."""
        return self.get_credentials_and_project_id()[0]

    def get_credentials(self) -> Any:
        """Airflow's name for :meth:`get_conn`."""
        return self.get_conn()

    # -- shared clients ----------------------------------------------------------------------

    def shared_client(self, kind: str, build: Callable[[Any, str | None], T], *parts: Any) -> T:
        """The process-wide client of ``kind`` for this connection, built by
        ``build(credentials, project)`` on first use.

        The key is ``(kind, conn_id, credential fingerprint, *parts)``; ``parts`` holds what else
        the client is bound to (the project, a location).
        """
        key = (kind, self.conn_id, self.credential_fingerprint(), *parts)
        client = _clients.get(key)
        if client is None:
            credentials, project = self.get_credentials_and_project_id()
            with _clients_lock:
                client = _clients.get(key)
                if client is None:
                    client = build(credentials, project)
                    _clients[key] = client
        self._shared_keys.add(key)
        result: T = client
        return result

    def reset_client(self) -> None:
        """Drop the shared clients this hook used (they were built from stale credentials) and the
        hook's own client."""
        keys, self._shared_keys = self._shared_keys, set()
        dropped = []
        with _clients_lock:
            for key in keys:
                client = _clients.pop(key, None)
                if client is not None:
                    dropped.append(client)
        for client in dropped:
            _close_quietly(client)
        self._credentials = None
        super().reset_client()

    def refresh_connection(self) -> bool:
        """Re-resolve the connection (bypassing caches); also True when only the key file named by
        the connection (or by ``GOOGLE_APPLICATION_CREDENTIALS``) changed on disk."""
        before = self._fingerprint[1] if self._fingerprint is not None else None
        changed = super().refresh_connection()
        self._fingerprint = None
        if not changed and before is not None and self.credential_fingerprint() != before:
            self.reset_client()
            changed = True
        return changed

    # -- calls -------------------------------------------------------------------------------

    def retry(self) -> Any:
        """A ``google.api_core`` Retry for one call: transient failures only, at most
        :attr:`num_retries` times, exponential backoff, within ``retry_timeout_s``."""
        from google.api_core.retry import Retry

        limit = self.num_retries
        attempts = itertools.count(1)

        def predicate(exc: Exception) -> bool:
            return is_transient(exc) and next(attempts) <= limit

        return Retry(
            predicate=predicate,
            initial=self.retry_delay_s,
            maximum=30.0,
            multiplier=2.0,
            timeout=self.retry_timeout_s,
        )

    def call(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action`` with error translation and one credential refresh on an auth failure."""

        def once() -> T:
            try:
                return action()
            except HookError:
                raise
            except Exception as exc:
                if _is_google_error(exc):
                    raise google_error(exc, conn_id=self.conn_id, what=what) from exc
                raise

        return self.run_with_refresh(once)

    def _test(self) -> None:
        """Build the credentials and check them: an access token for a key, an HTTP answer from
        the emulator's endpoint for anonymous credentials."""
        credentials, _ = self.get_credentials_and_project_id()
        endpoint = self.api_endpoint
        import requests

        if self.anonymous:
            if endpoint:
                try:
                    requests.get(endpoint, timeout=10).close()
                except requests.RequestException as exc:
                    raise google_error(exc, conn_id=self.conn_id, what=f"GET {endpoint}") from None
            return
        from google.auth.transport.requests import Request

        self.call("refreshing the access token", lambda: credentials.refresh(Request()))


def _is_google_error(exc: BaseException) -> bool:
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    return isinstance(exc, gexc.GoogleAPIError | auth_exc.GoogleAuthError) or _is_transport_error(
        exc
    )


def _file_stamp(path: Any) -> tuple[int, int] | None:
    if not path:
        return None
    try:
        stat = os.stat(str(path))
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
