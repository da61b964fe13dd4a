"""AWS Secrets Manager and SSM Parameter Store backends (boto3), with Airflow's data layout.

* :class:`AwsSecretsManagerBackend`: secret ``airflow/connections/<conn_id>`` (prefix and ``sep``
  configurable), ``SecretString`` holding a URI or JSON; JSON keys use Airflow's aliases
  (``user``/``username`` for ``login``, ``database`` for ``schema``, ...; see
  :func:`~hookline.secrets.remote.standardize_secret_keys`).
* :class:`AwsSsmBackend`: parameter ``/airflow/connections/<conn_id>``, read with decryption.

An id that would give a name the service refuses (Secrets Manager: letters, digits and ``/_+=.@-``;
SSM: letters, digits and ``/_.-``) is skipped without an API call: it cannot be stored, and a ``:``
would select an ARN or a parameter version instead of a name.

Both take the boto3 session settings (``region_name``, ``endpoint_url``, ``profile_name``, explicit
keys) and can assume a role through STS (``role_arn``); the temporary credentials are renewed before
they expire, not per lookup. botocore's own retries are switched off and its socket timeouts bounded, so
the base's retry loop and ``deadline_s`` are the only policy in force.

Both write (``hookline connections add --backend aws_ssm``), stage rotations and serve variables
(:class:`~hookline.secrets.remote_writes.WritableRemoteBackend`): a connection is written as Airflow's
JSON; a variable is the raw string at ``{variables_prefix}{sep}{key}`` (default prefixes
``airflow/variables`` and ``/airflow/variables``, as in Airflow). ``overwrite=False`` uses the
create-only call (``CreateSecret``, ``PutParameter(Overwrite=False)``); a delete in Secrets Manager
is immediate (``ForceDeleteWithoutRecovery``), so the name can be used again at once.

Staging in Secrets Manager (:mod:`hookline.secrets.aws_staging`) uses its own labels: the pending version is a version of the same secret
whose id is the rotation token (``ClientRequestToken``) labelled ``AWSPENDING``; promoting moves
``AWSCURRENT`` to it (``AWSPREVIOUS`` follows the old one) and removes ``AWSPENDING``. The step the
rotation reached is kept in the tag ``hookline:rotation`` (``<token>:<step>:<created_at>``), so it
needs ``secretsmanager:TagResource``/``UntagResource`` besides ``PutSecretValue``,
``UpdateSecretVersionStage`` and ``DescribeSecret``. Reads ask for ``VersionStage="AWSCURRENT"``
explicitly (AWS's default; moto only follows moved labels then). In SSM the pending version is the
sibling parameter ``{connections_prefix}__pending/{conn_id}`` (SecureString).

boto3 is imported when a backend is built, never at ``import hookline``; without it, building one raises
:class:`~hookline.exceptions.MissingDependency` naming the ``hookline[aws]`` extra.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from hookline import masking
from hookline.exceptions import MissingDependency
from hookline.secrets.aws_staging import SecretsManagerStaging, client_error_code
from hookline.secrets.remote import ErrorKind, Verdict, standardize_secret_keys
from hookline.secrets.remote_writes import WritableRemoteBackend

__all__ = ["AwsSecretsManagerBackend", "AwsSsmBackend"]

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "KMSAccessDeniedException",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})


def _import_boto3() -> ModuleType:
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependency("boto3", "aws", purpose="the AWS secrets backends") from exc
    module: ModuleType = boto3
    return module


class _AwsBackend(WritableRemoteBackend):
    """Shared boto3 session, role assumption and error mapping of the two AWS backends."""

    service = ""
    not_found_codes: frozenset[str] = frozenset()
    #: The characters the service allows in a name; ids giving another name cannot exist there.
    name_pattern: re.Pattern[str] = re.compile(r".+")

    def __init__(
        self,
        *,
        connections_prefix: str | None,
        variables_prefix: str | None,
        sep: str = "/",
        connections_lookup_pattern: str | None = None,
        variables_lookup_pattern: str | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        profile_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        role_arn: str | None = None,
        role_session_name: str = "hookline",
        assume_role_kwargs: Mapping[str, Any] | None = None,
        sts_endpoint_url: str | None = None,
        renew_before_s: float = 300.0,
        extra_conn_words: Mapping[str, list[str]] | None = None,
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
        self._boto3 = _import_boto3()
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.profile_name = profile_name
        self._aws_access_key_id = aws_access_key_id
        self._aws_secret_access_key = aws_secret_access_key
        self._aws_session_token = aws_session_token
        masking.register(aws_secret_access_key)  # masked wherever an SDK message quotes them
        masking.register(aws_session_token)
        self.role_arn = role_arn
        self.role_session_name = role_session_name
        self.assume_role_kwargs = dict(assume_role_kwargs or {})
        self.sts_endpoint_url = sts_endpoint_url or endpoint_url
        self.renew_before_s = float(renew_before_s)
        self.extra_conn_words = dict(extra_conn_words or {})
        self._credentials_expire_at: float | None = None

    def wants(self, conn_id: str) -> bool:
        """Also skips ids that cannot form a valid name for the service (no API call): such a
        secret cannot exist, and a ``:`` would select an ARN or a parameter version instead."""
        if not super().wants(conn_id):
            return False
        key = self.build_path(conn_id)
        return key is not None and self.name_pattern.fullmatch(key) is not None

    def _valid_key(self, key: str) -> bool:
        return self.name_pattern.fullmatch(key) is not None

    def _botocore_config(self) -> Any:
        from botocore.config import Config

        return Config(
            connect_timeout=self.deadline_s,
            read_timeout=self.deadline_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=max(10, self.max_workers),
        )

    def _create_client(self) -> Any:
        session = self._boto3.session.Session(
            aws_access_key_id=self._aws_access_key_id,
            aws_secret_access_key=self._aws_secret_access_key,
            aws_session_token=self._aws_session_token,
            region_name=self.region_name,
            profile_name=self.profile_name,
        )
        config = self._botocore_config()
        if self.role_arn:
            sts = session.client("sts", endpoint_url=self.sts_endpoint_url, config=config)
            kwargs = {
                "RoleArn": self.role_arn,
                "RoleSessionName": self.role_session_name,
                **self.assume_role_kwargs,
            }
            try:
                response = self._api(lambda: sts.assume_role(**kwargs))
            finally:
                sts.close()  # one login, then its HTTP pool is of no use
            self._bump("logins")
            credentials = response["Credentials"]
            expiration = credentials.get("Expiration")
            self._credentials_expire_at = (
                expiration.timestamp() if isinstance(expiration, datetime) else None
            )
            masking.register(credentials["SecretAccessKey"])  # temporary, but secrets all the same
            masking.register(credentials["SessionToken"])
            session = self._boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=session.region_name,
            )
        return session.client(self.service, endpoint_url=self.endpoint_url, config=config)

    def _before_call(self, client: Any) -> Any:
        expire_at = self._credentials_expire_at
        if expire_at is not None and expire_at - time.time() < self.renew_before_s:
            self._credentials_expire_at = None
            self._bump("renewals")
            self._drop_client(client)
            return self._get_client()
        return client

    def _close_client(self, client: Any) -> None:
        client.close()  # botocore clients close their HTTP connection pool

    def _classify(self, exc: BaseException) -> Verdict:
        from botocore import exceptions as bce

        if isinstance(exc, bce.ClientError):
            response: Mapping[str, Any] = exc.response or {}
            code = str(response.get("Error", {}).get("Code", "Unknown"))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            reason = f"{code}, HTTP {status}" if status else code
            if code in self.not_found_codes:
                return Verdict(ErrorKind.ABSENT, reason)
            if code in _EXPIRED_CODES:
                return Verdict(ErrorKind.REAUTH, reason)
            if code in _DENIED_CODES or status == 403:
                return Verdict(ErrorKind.DENIED, reason)
            if code in _THROTTLING_CODES or status == 429 or status >= 500:
                return Verdict(ErrorKind.RETRY, reason)
            return Verdict(ErrorKind.FAIL, reason)
        if isinstance(exc, bce.SSLError):
            return Verdict(ErrorKind.FAIL, "SSLError: TLS handshake failed")
        if isinstance(exc, bce.HTTPClientError | bce.ConnectionError):
            return Verdict(ErrorKind.RETRY, type(exc).__name__)
        if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
            return Verdict(ErrorKind.FAIL, f"{type(exc).__name__}: no usable AWS credentials")
        return super()._classify(exc)

    def _normalize(self, text: str) -> str:
        """JSON values get Airflow's key aliases; URIs pass through unchanged."""
        stripped = text.strip()
        if not stripped.startswith("{"):
            return text
        try:
            data = json.loads(stripped)
        except ValueError:
            return text  # Connection.from_text reports it (without the value)
        if not isinstance(data, dict):
            return text
        return json.dumps(standardize_secret_keys(data, self.extra_conn_words))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(connections_prefix={self.connections_prefix!r}, "
            f"region_name={self.region_name!r}, endpoint_url={self.endpoint_url!r}, "
            f"role_arn={self.role_arn!r})"
        )


class AwsSecretsManagerBackend(SecretsManagerStaging, _AwsBackend):
    """Connections in AWS Secrets Manager, laid out as Airflow's ``SecretsManagerBackend`` does.

    Args:
        connections_prefix: Secret-name prefix (default ``"airflow/connections"``; ``""`` for none,
            ``None`` to switch connection lookups off).
        sep: Separator between prefix and conn_id (default ``"/"``).
        connections_lookup_pattern: Regex a conn_id must match to cost an API call.
        variables_prefix: Secret-name prefix of variables (default ``"airflow/variables"``;
            ``None`` switches variable lookups off).
        variables_lookup_pattern: Regex a variable key must match to cost an API call.
        region_name: AWS region.
        endpoint_url: Custom endpoint (moto, LocalStack, VPC endpoints).
        profile_name: Named profile from the AWS config files.
        aws_access_key_id: Explicit key id (otherwise the default credential chain).
        aws_secret_access_key: Explicit secret key.
        aws_session_token: Explicit session token.
        role_arn: Role to assume through STS before reading.
        role_session_name: Session name for the assumed role.
        assume_role_kwargs: More ``AssumeRole`` parameters (``DurationSeconds``, ``ExternalId``, ...).
        sts_endpoint_url: STS endpoint (default ``endpoint_url``).
        renew_before_s: Assume the role again this long before its credentials expire.
        extra_conn_words: More JSON key aliases per field, e.g. ``{"login": ["account"]}``.
        deadline_s: Total time one lookup may take, retries included.
        max_attempts: Attempts per lookup for retryable errors.
        backoff_initial_s: First backoff wait (doubles per attempt, plus jitter).
        backoff_max_s: Longest single backoff wait.
        max_workers: Concurrent API calls at most.
    """

    name = "aws_secrets_manager"
    service = "secretsmanager"
    name_pattern = re.compile(r"[A-Za-z0-9/_+=.@\-]{1,512}")
    not_found_codes = frozenset(
        {"ResourceNotFoundException", "InvalidParameterException", "InvalidRequestException"}
    )
    default_connections_prefix = "airflow/connections"

    def __init__(
        self,
        *,
        connections_prefix: str | None = "airflow/connections",
        variables_prefix: str | None = "airflow/variables",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            connections_prefix=connections_prefix, variables_prefix=variables_prefix, **kwargs
        )

    def _read(self, client: Any, key: str) -> str | None:
        response = self._api(
            lambda: client.get_secret_value(SecretId=key, VersionStage="AWSCURRENT")
        )
        return self._secret_text(response)

    # -- documents ------------------------------------------------------------------------------

    def _get_doc(self, client: Any, key: str) -> str | None:
        response = self._api(
            lambda: client.get_secret_value(SecretId=key, VersionStage="AWSCURRENT")
        )
        text = response.get("SecretString")
        return None if text is None else str(text)

    def _put_doc(self, client: Any, key: str, text: str, *, overwrite: bool) -> bool:
        if overwrite:
            try:
                self._api(lambda: client.put_secret_value(SecretId=key, SecretString=text))
                return True
            except Exception as exc:
                if client_error_code(exc) != "ResourceNotFoundException":
                    raise
        try:
            self._api(lambda: client.create_secret(Name=key, SecretString=text))
        except Exception as exc:
            if client_error_code(exc) != "ResourceExistsException":
                raise
            if not overwrite:
                return False
            self._api(lambda: client.put_secret_value(SecretId=key, SecretString=text))
        return True

    def _delete_doc(self, client: Any, key: str) -> bool:
        # A forced delete of a missing secret succeeds: ask first, to say whether it existed.
        try:
            self._api(lambda: client.describe_secret(SecretId=key))
            self._api(lambda: client.delete_secret(SecretId=key, ForceDeleteWithoutRecovery=True))
        except Exception as exc:
            if client_error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def _secret_text(self, response: Mapping[str, Any]) -> str | None:
        text = response.get("SecretString")
        if text is None:
            binary = response.get("SecretBinary")
            if binary is None:
                return None
            text = binary.decode("utf-8") if isinstance(binary, bytes) else str(binary)
        return self._normalize(str(text))

    def _list(self, client: Any) -> dict[str, str]:
        """``BatchGetSecretValue`` with a name filter: one call per 20 secrets."""
        prefix = self.connections_prefix or ""
        head = f"{prefix}{self.sep}" if prefix else ""
        found: dict[str, str] = {}
        kwargs: dict[str, Any] = {"MaxResults": 20}
        if head:
            kwargs["Filters"] = [{"Key": "name", "Values": [head]}]
        while True:
            page = self._api(lambda: client.batch_get_secret_value(**kwargs))
            for entry in page.get("SecretValues", []):
                conn_id = self.conn_id_for_key(str(entry.get("Name", "")))
                text = self._secret_text(entry)
                if conn_id is not None and text is not None:
                    found[conn_id] = text
            token = page.get("NextToken")
            if not token:
                return found
            kwargs["NextToken"] = token


class AwsSsmBackend(_AwsBackend):
    """Connections in AWS SSM Parameter Store, laid out as Airflow's ``SystemsManagerParameterStoreBackend``.

    Takes the same arguments as :class:`AwsSecretsManagerBackend`; the default prefix is
    ``"/airflow/connections"``. Parameters are read with ``WithDecryption=True`` (SecureString).
    """

    name = "aws_ssm"
    service = "ssm"
    name_pattern = re.compile(r"[A-Za-z0-9/_.\-]{1,2048}")
    not_found_codes = frozenset({"ParameterNotFound", "ParameterVersionNotFound"})
    default_connections_prefix = "/airflow/connections"

    def __init__(
        self,
        *,
        connections_prefix: str | None = "/airflow/connections",
        variables_prefix: str | None = "/airflow/variables",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            connections_prefix=connections_prefix, variables_prefix=variables_prefix, **kwargs
        )

    def _get_doc(self, client: Any, key: str) -> str | None:
        response = self._api(lambda: client.get_parameter(Name=key, WithDecryption=True))
        value = response.get("Parameter", {}).get("Value")
        return None if value is None else str(value)

    def _put_doc(self, client: Any, key: str, text: str, *, overwrite: bool) -> bool:
        try:
            self._api(
                lambda: client.put_parameter(
                    Name=key, Value=text, Type="SecureString", Overwrite=overwrite
                )
            )
        except Exception as exc:
            if not overwrite and client_error_code(exc) == "ParameterAlreadyExists":
                return False
            raise
        return True

    def _delete_doc(self, client: Any, key: str) -> bool:
        try:
            self._api(lambda: client.delete_parameter(Name=key))
        except Exception as exc:
            if client_error_code(exc) == "ParameterNotFound":
                return False
            raise
        return True

    def _read(self, client: Any, key: str) -> str | None:
        response = self._api(lambda: client.get_parameter(Name=key, WithDecryption=True))
        value = response.get("Parameter", {}).get("Value")
        return None if value is None else self._normalize(str(value))

    def _list(self, client: Any) -> dict[str, str]:
        """``GetParametersByPath`` (recursive, decrypted): one call per 10 parameters."""
        prefix = self.connections_prefix or "/"
        found: dict[str, str] = {}
        kwargs: dict[str, Any] = {
            "Path": prefix,
            "Recursive": True,
            "WithDecryption": True,
            "MaxResults": 10,
        }
        while True:
            page = self._api(lambda: client.get_parameters_by_path(**kwargs))
            for param in page.get("Parameters", []):
                conn_id = self.conn_id_for_key(str(param.get("Name", "")))
                value = param.get("Value")
                if conn_id is not None and value is not None:
                    found[conn_id] = self._normalize(str(value))
            token = page.get("NextToken")
            if not token:
                return found
            kwargs["NextToken"] = token
