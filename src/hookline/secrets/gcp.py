"""GCP Secret Manager backend (google-cloud-secret-manager), with Airflow's data layout.

A connection lives in secret ``{connections_prefix}{sep}{conn_id}`` (default
``airflow-connections-<conn_id>``) of ``project_id``; its version ``latest`` (or a pinned one) holds a
URI or JSON. Secret ids must match Airflow's ``SECRET_ID_PATTERN`` (``^[a-zA-Z0-9-_]*$``): the prefix and
separator are checked when the backend is built, and ids that would give an invalid secret id are
skipped without an API call.

Credentials come from ``credentials`` (an object, for programmatic use), ``anonymous=True`` (fakes and
emulators), a service-account key file (``key_path``) or dict (``keyfile_dict``), else Application
Default Credentials. The project comes from ``project_id`` or the credentials. The transport is gRPC by
default or REST (``transport="rest"``); ``api_endpoint`` points the client elsewhere. The client's own
retries are switched off: the base's retry loop and ``deadline_s`` apply.

Writes, rotation staging and variables come from
:class:`~hookline.secrets.remote_writes.WritableRemoteBackend`: a write creates the secret when needed
(automatic replication) and adds a version, which becomes ``latest``; a delete deletes the secret. A
variable is the raw string in secret ``{variables_prefix}{sep}{key}`` (default
``airflow-variables-<key>``, as in Airflow). The pending version of a rotation is kept in the sibling
secret ``{connections_prefix}__pending{sep}{conn_id}``, so no new version of the connection's own
secret exists (and none becomes ``latest``) before the promotion. Writing needs
``secretmanager.secrets.create``, ``secretmanager.versions.add`` (and ``secrets.delete``).

google-cloud-secret-manager is imported when the backend is built, never at ``import hookline``;
without it, building one raises :class:`~hookline.exceptions.MissingDependency` naming the
``hookline[gcp]`` extra.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from hookline.exceptions import ConfigurationError, MissingDependency
from hookline.secrets.remote import ErrorKind, Verdict
from hookline.secrets.remote_writes import WritableRemoteBackend

__all__ = ["SECRET_ID_PATTERN", "GcpSecretManagerBackend"]

#: Airflow's rule for Secret Manager ids (``CloudSecretManagerBackend``).
SECRET_ID_PATTERN = r"^[a-zA-Z0-9-_]*$"
_SECRET_ID = re.compile(SECRET_ID_PATTERN)
_DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def _import_secretmanager() -> ModuleType:
    try:
        secretmanager = importlib.import_module("google.cloud.secretmanager")
    except ImportError as exc:
        raise MissingDependency(
            "google-cloud-secret-manager", "gcp", purpose="the GCP Secret Manager backend"
        ) from exc
    module: ModuleType = secretmanager
    return module


class GcpSecretManagerBackend(WritableRemoteBackend):
    """Connections in Google Cloud Secret Manager.

    Args:
        project_id: The project holding the secrets (default: the credentials' project).
        connections_prefix: Secret-id prefix (default ``"airflow-connections"``; ``None`` switches
            connection lookups off).
        sep: Separator between prefix and conn_id (default ``"-"``).
        variables_prefix: Secret-id prefix of variables (default ``"airflow-variables"``;
            ``None`` switches variable lookups off).
        variables_lookup_pattern: Regex a variable key must match to cost an API call.
        version: Secret version to read: ``"latest"`` (default) or a version number.
        key_path: Service-account JSON key file (Airflow's ``gcp_key_path``).
        keyfile_dict: Service-account key as a dict (Airflow's ``gcp_keyfile_dict``).
        scopes: OAuth scopes for key-file and default credentials.
        anonymous: Use anonymous credentials (local fakes and emulators only).
        credentials: A ``google.auth`` credentials object (programmatic use; wins over the others).
        transport: ``"grpc"`` (default) or ``"rest"``.
        api_endpoint: Custom endpoint, e.g. ``"http://127.0.0.1:8085"`` for a local fake over REST.
        connections_lookup_pattern: Regex a conn_id must match to cost an API call.
        deadline_s: Total time one lookup may take, retries included.
        max_attempts: Attempts per lookup for retryable errors.
        backoff_initial_s: First backoff wait (doubles per attempt, plus jitter).
        backoff_max_s: Longest single backoff wait.
        max_workers: Concurrent API calls at most.

    Raises:
        ConfigurationError: prefix + sep is not a valid secret id, an unknown transport, or two
            credential sources at once.
        MissingDependency: google-cloud-secret-manager is not installed.
    """

    name = "gcp_secret_manager"
    default_connections_prefix = "airflow-connections"
    default_sep = "-"

    def __init__(
        self,
        *,
        project_id: str | None = None,
        connections_prefix: str | None = "airflow-connections",
        variables_prefix: str | None = "airflow-variables",
        variables_lookup_pattern: str | None = None,
        sep: str = "-",
        version: str | int = "latest",
        key_path: str | None = None,
        keyfile_dict: Mapping[str, Any] | None = None,
        scopes: Sequence[str] | None = None,
        anonymous: bool = False,
        credentials: Any = None,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        connections_lookup_pattern: str | None = None,
        deadline_s: float = 10.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        max_workers: int = 4,
    ) -> None:
        super().__init__(
            variables_prefix=variables_prefix,
            variables_lookup_pattern=variables_lookup_pattern,
            connections_prefix=connections_prefix,
            sep=sep,
            connections_lookup_pattern=connections_lookup_pattern,
            deadline_s=deadline_s,
            max_attempts=max_attempts,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            max_workers=max_workers,
        )
        for setting, prefix in (
            ("connections_prefix", connections_prefix),
            ("variables_prefix", variables_prefix),
        ):
            if prefix is not None and not _SECRET_ID.fullmatch(f"{prefix}{sep}"):
                raise ConfigurationError(
                    f"gcp_secret_manager: {setting} + sep ({prefix + sep!r}) "
                    f"must match {SECRET_ID_PATTERN} (letters, digits, '-' and '_')"
                )
        if transport not in ("grpc", "rest"):
            raise ConfigurationError(
                f"gcp_secret_manager: transport must be 'grpc' or 'rest', not {transport!r}"
            )
        if sum(x is not None and x is not False for x in (key_path, keyfile_dict, anonymous)) > 1:
            raise ConfigurationError(
                "gcp_secret_manager: give at most one of key_path, keyfile_dict, anonymous"
            )
        version_text = str(version)
        if version_text != "latest" and not version_text.isdigit():
            raise ConfigurationError(
                f"gcp_secret_manager: version must be 'latest' or a number, not {version!r}"
            )
        self._secretmanager = _import_secretmanager()
        self.project_id = project_id
        self.version = version_text
        self.key_path = key_path
        self._keyfile_dict = dict(keyfile_dict) if keyfile_dict is not None else None
        self.scopes = tuple(scopes) if scopes else _DEFAULT_SCOPES
        self.anonymous = anonymous
        self._credentials = credentials
        self.transport = transport
        self.api_endpoint = api_endpoint

    # -- ids ------------------------------------------------------------------------------------

    def wants(self, conn_id: str) -> bool:
        """Also skips ids that cannot form a valid secret id (they cannot exist in the store)."""
        if not super().wants(conn_id):
            return False
        key = self.build_path(conn_id)
        return key is not None and _SECRET_ID.fullmatch(key) is not None

    def _version_name(self, secret_id: str) -> str:
        return f"projects/{self.project_id}/secrets/{secret_id}/versions/{self.version}"

    # -- client ---------------------------------------------------------------------------------

    def _resolve_credentials(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        if self.anonymous:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        if self.key_path is not None or self._keyfile_dict is not None:
            from google.oauth2 import service_account

            if self.key_path is not None:
                creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    self.key_path, scopes=list(self.scopes)
                )
            else:
                creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    self._keyfile_dict, scopes=list(self.scopes)
                )
            self._bump("logins")
            if self.project_id is None:
                self.project_id = creds.project_id
            return creds
        import google.auth

        creds, project = google.auth.default(scopes=list(self.scopes))
        self._bump("logins")
        if self.project_id is None:
            self.project_id = project
        return creds

    def _create_client(self) -> Any:
        from google.api_core.client_options import ClientOptions

        credentials = self._resolve_credentials()
        if not self.project_id:
            raise ConfigurationError(
                "gcp_secret_manager: no project_id given and the credentials name none; "
                "set project_id in [secrets.backend.gcp_secret_manager]"
            )
        options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
        return self._secretmanager.SecretManagerServiceClient(
            credentials=credentials, transport=self.transport, client_options=options
        )

    def _close_client(self, client: Any) -> None:
        client.transport.close()

    # -- reads ----------------------------------------------------------------------------------

    def _access(self, client: Any, secret_id: str) -> str:
        response = self._api(
            lambda: client.access_secret_version(
                request={"name": self._version_name(secret_id)},
                retry=None,
                timeout=self.deadline_s,
            )
        )
        data: bytes = response.payload.data
        return data.decode("utf-8")

    def _read(self, client: Any, key: str) -> str | None:
        return self._access(client, key)

    def _list(self, client: Any) -> dict[str, str]:
        """``ListSecrets`` filtered by name (250 per page), then one access per connection."""
        from google.api_core import exceptions as gexc

        head = f"{self.connections_prefix}{self.sep}"
        request: dict[str, Any] = {
            "parent": f"projects/{self.project_id}",
            "page_size": 250,
            "filter": f"name:{head}",
        }
        secret_ids: list[str] = []
        while True:
            page = self._api(
                lambda: client.list_secrets(request=request, retry=None, timeout=self.deadline_s)
            )
            for secret in page.secrets:
                secret_id = str(secret.name).rsplit("/", 1)[-1]
                if self.conn_id_for_key(secret_id) is not None:
                    secret_ids.append(secret_id)
            token = page.next_page_token
            if not token:
                break
            request["page_token"] = token
        found: dict[str, str] = {}
        for secret_id in sorted(secret_ids):
            conn_id = self.conn_id_for_key(secret_id)
            if conn_id is None:
                continue
            try:
                found[conn_id] = self._access(client, secret_id)
            except (gexc.NotFound, gexc.FailedPrecondition, gexc.BadRequest):
                continue  # no enabled version to read
        return found

    # -- documents (writes, staging, variables) -------------------------------------------------

    def _valid_key(self, key: str) -> bool:
        return _SECRET_ID.fullmatch(key) is not None

    def _get_doc(self, client: Any, key: str) -> str | None:
        name = f"projects/{self.project_id}/secrets/{key}/versions/latest"
        response = self._api(
            lambda: client.access_secret_version(
                request={"name": name}, retry=None, timeout=self.deadline_s
            )
        )
        data: bytes = response.payload.data
        return data.decode("utf-8")

    def _put_doc(self, client: Any, key: str, text: str, *, overwrite: bool) -> bool:
        from google.api_core import exceptions as gexc

        parent = f"projects/{self.project_id}"
        try:
            self._api(
                lambda: client.create_secret(
                    request={
                        "parent": parent,
                        "secret_id": key,
                        "secret": {"replication": {"automatic": {}}},
                    },
                    retry=None,
                    timeout=self.deadline_s,
                )
            )
        except gexc.Conflict:  # AlreadyExists (fakes answer a plain 409)
            if not overwrite:
                try:
                    self._get_doc(client, key)
                    return False  # it holds a version already
                except (gexc.NotFound, gexc.FailedPrecondition, gexc.BadRequest):
                    pass  # created earlier without a version: fill it
        self._api(
            lambda: client.add_secret_version(
                request={"parent": f"{parent}/secrets/{key}", "payload": {"data": text.encode()}},
                retry=None,
                timeout=self.deadline_s,
            )
        )
        return True

    def _delete_doc(self, client: Any, key: str) -> bool:
        from google.api_core import exceptions as gexc

        name = f"projects/{self.project_id}/secrets/{key}"
        try:
            self._api(
                lambda: client.delete_secret(
                    request={"name": name}, retry=None, timeout=self.deadline_s
                )
            )
        except gexc.NotFound:
            return False
        return True

    # -- errors ---------------------------------------------------------------------------------

    def _classify(self, exc: BaseException) -> Verdict:
        import requests
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        if isinstance(exc, gexc.GoogleAPICallError):
            code = exc.code
            reason = f"{type(exc).__name__}, HTTP {int(code)}" if code else type(exc).__name__
            if isinstance(exc, gexc.NotFound):
                return Verdict(ErrorKind.ABSENT, reason)
            if isinstance(exc, gexc.PermissionDenied | gexc.Forbidden):
                return Verdict(ErrorKind.DENIED, reason)
            if isinstance(exc, gexc.Unauthenticated | gexc.Unauthorized):
                return Verdict(ErrorKind.REAUTH, reason)
            if isinstance(
                exc,
                gexc.TooManyRequests
                | gexc.ResourceExhausted
                | gexc.ServerError
                | gexc.DeadlineExceeded
                | gexc.Aborted,
            ):
                return Verdict(ErrorKind.RETRY, reason)
            return Verdict(ErrorKind.FAIL, reason)
        if isinstance(exc, gexc.RetryError):
            return Verdict(ErrorKind.RETRY, type(exc).__name__)
        if isinstance(exc, auth_exc.TransportError):
            return Verdict(ErrorKind.RETRY, type(exc).__name__)
        if isinstance(exc, auth_exc.RefreshError):
            return Verdict(ErrorKind.REAUTH, type(exc).__name__)
        if isinstance(exc, requests.exceptions.SSLError):
            return Verdict(ErrorKind.FAIL, "SSLError: TLS handshake failed")
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return Verdict(ErrorKind.RETRY, type(exc).__name__)
        return super()._classify(exc)

    def __repr__(self) -> str:
        return (
            f"GcpSecretManagerBackend(project_id={self.project_id!r}, "
            f"connections_prefix={self.connections_prefix!r}, "
            f"variables_prefix={self.variables_prefix!r}, sep={self.sep!r}, "
            f"version={self.version!r}, transport={self.transport!r})"
        )
