"""S3Hook: Amazon S3 (and S3-compatible stores) on boto3, built from an ``aws`` connection.

Connection fields as in Airflow's AWS connection: ``login`` is the access key id, ``password`` the
secret access key (masked everywhere). Extras: ``region_name``, ``endpoint_url`` (or Airflow's
``service_config: {"s3": {"endpoint_url": ...}}``, or a host with ``://``), ``aws_session_token``,
``profile_name``, ``bucket_name`` (the default bucket), ``addressing_style`` (``path`` by default when
an endpoint URL is set), ``connect_timeout_s``, ``read_timeout_s``, ``max_attempts`` and
``config_kwargs`` (passed to ``botocore.config.Config``).

The boto3 client is created lazily, once per hook, and rebuilt when the connection's credentials are
refreshed. Large files go up in parts (``multipart_threshold_bytes``). Errors are mapped once:

* a missing bucket or key -> :class:`S3NotFound` (a :class:`~hookline.exceptions.HookError`);
* access denied, bad key id or signature -> :class:`~hookline.exceptions.AuthenticationFailed` (the
  hook refreshes its connection once and retries);
* an unreachable endpoint or a timeout -> :class:`~hookline.exceptions.HookConnectionError`.

Messages name the operation, the ``s3://`` location, the AWS error code and HTTP status: never the
secret access key or the session token.
"""

from __future__ import annotations

import contextlib
import functools
import gzip as gzip_module
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import urlsplit

from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    HookArgumentError,
    HookConnectionError,
    HookError,
    MissingDependency,
    S3NotFound,
)
from hookline.hooks._s3_objects import S3ObjectsMixin
from hookline.hooks.base import BaseHook

__all__ = ["S3Hook", "S3KeyInfo", "S3NotFound"]

ResultT = TypeVar("ResultT")

MIB: Final = 1024 * 1024
_NOT_FOUND: Final = frozenset({"NoSuchBucket", "NoSuchKey", "NotFound", "404", "NoSuchUpload"})
_DENIED: Final = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "UnrecognizedClientException",
    }
)
_DELETE_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class S3KeyInfo:
    """What ``HEAD`` says about an object (:meth:`S3Hook.get_key`)."""

    bucket: str
    key: str
    size_bytes: int
    etag: str
    last_modified: datetime | None
    content_type: str | None
    metadata: Mapping[str, str]


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependency("boto3", "s3", purpose="S3Hook") from exc
    return boto3


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/key/parts`` into ``("bucket", "key/parts")``.

    Raises:
        ValueError: not an ``s3://`` URL with a bucket.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"s3", "s3a", "s3n"} or not parts.netloc:
        raise ValueError(f"{url!r} is not an s3://bucket/key URL")
    return parts.netloc, parts.path.lstrip("/")


class S3Hook(S3ObjectsMixin, BaseHook[Any]):
    """Read and write S3 objects.

    Args:
        conn: A conn_id or a Connection (``aws_conn_id=`` is accepted too).
        region_name: Overrides the ``region_name`` extra.
        endpoint_url: Overrides the endpoint from the connection (MinIO, moto, LocalStack).
        multipart_threshold_bytes: Files at least this large are uploaded/downloaded in parts.
        multipart_chunksize_bytes: Part size (S3 requires at least 5 MiB except the last part).
        max_concurrency: Parallel part transfers.
        connect_timeout_s: Connect timeout (default: extra, else 10 s).
        read_timeout_s: Read timeout (default: extra, else 60 s).
        max_attempts: botocore attempts per call, retries included (default: extra, else 3).

    Example:
        >>> with S3Hook("lake") as s3:  # doctest: +SKIP
        ...     s3.load_string("id,name\\n", "raw/users.csv", bucket_name="landing")
    """

    conn_type: ClassVar[str] = "aws"
    hook_name: ClassVar[str] = "Amazon S3"
    default_conn_name: ClassVar[str] = "aws_default"
    conn_name_attr: ClassVar[str] = "aws_conn_id"

    def __init__(
        self,
        conn: str | Connection | None = None,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        multipart_threshold_bytes: int = 8 * MIB,
        multipart_chunksize_bytes: int = 8 * MIB,
        max_concurrency: int = 4,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        max_attempts: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self.multipart_threshold_bytes = multipart_threshold_bytes
        self.multipart_chunksize_bytes = multipart_chunksize_bytes
        self.max_concurrency = max_concurrency
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._max_attempts = max_attempts
        self._lock = threading.Lock()
        self._session: Any = None
        self._resource: Any = None

    # -- settings ----------------------------------------------------------------------------

    @property
    def region_name(self) -> str | None:
        """The region: hook argument, else the ``region_name`` extra."""
        if self._region_name:
            return self._region_name
        region = self.connection.extra.get("region_name")
        return str(region) if region else None

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint: hook argument, extra ``endpoint_url``, ``service_config.s3``, or host."""
        if self._endpoint_url:
            return self._endpoint_url
        conn = self.connection
        extra = conn.extra
        url = extra.get("endpoint_url")
        if not url:
            service = extra.get("service_config")
            if isinstance(service, Mapping) and isinstance(service.get("s3"), Mapping):
                url = service["s3"].get("endpoint_url")
        if not url and conn.host and "://" in conn.host:
            url = conn.host + (f":{conn.port}" if conn.port else "")
        return str(url) if url else None

    def _setting(self, explicit: float | None, name: str, default: float) -> float:
        if explicit is not None:
            return explicit
        return float(self.connection.extra.get(name, default))

    def _config(self) -> Any:
        from botocore.config import Config

        extra = self.connection.extra
        addressing = extra.get("addressing_style") or ("path" if self.endpoint_url else "auto")
        kwargs: dict[str, Any] = {
            "connect_timeout": self._setting(self._connect_timeout_s, "connect_timeout_s", 10.0),
            "read_timeout": self._setting(self._read_timeout_s, "read_timeout_s", 60.0),
            "retries": {
                "max_attempts": int(self._setting(self._max_attempts, "max_attempts", 3)),
                "mode": "standard",
            },
            "s3": {"addressing_style": addressing},
        }
        extra_config = extra.get("config_kwargs")
        if isinstance(extra_config, Mapping):
            kwargs.update(extra_config)
        return Config(**kwargs)

    def _transfer_config(self) -> Any:
        _boto3()
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold_bytes,
            multipart_chunksize=self.multipart_chunksize_bytes,
            max_concurrency=self.max_concurrency,
        )

    # -- client ------------------------------------------------------------------------------

    def get_conn(self) -> Any:
        """The boto3 S3 client, created on first use and kept (boto3 clients are thread-safe)."""
        return self._client_built_once(self._lock, self._new_client)

    def _new_client(self) -> Any:
        conn = self.connection
        self._register_secrets(conn)
        extra = conn.extra
        session = self._session = _boto3().session.Session(
            aws_access_key_id=conn.login or extra.get("aws_access_key_id") or None,
            aws_secret_access_key=conn.password or extra.get("aws_secret_access_key") or None,
            aws_session_token=extra.get("aws_session_token") or None,
            region_name=self.region_name,
            profile_name=extra.get("profile_name") or None,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=self._config())

    def get_resource(self) -> Any:
        """The boto3 S3 ServiceResource on the same session and settings as the client (kept)."""
        resource = self._resource
        if resource is None:
            self.get_conn()
            with self._lock:
                resource = self._resource
                if resource is None:
                    resource = self._session.resource(
                        "s3", endpoint_url=self.endpoint_url, config=self._config()
                    )
                    self._resource = resource
        return resource

    def get_session(self) -> Any:
        """The boto3 Session the client and resource are built on."""
        self.get_conn()
        return self._session

    def close_conn(self) -> None:
        """Close the client's (and the resource's) HTTP connection pools."""
        clients = [self._client]
        if self._resource is not None:
            clients.append(self._resource.meta.client)
        for client in clients:
            if client is not None and hasattr(client, "close"):
                client.close()
        self._resource = None
        self._session = None

    # -- errors ------------------------------------------------------------------------------

    def _error(
        self, exc: Exception, operation: str, bucket: str | None, key: str | None
    ) -> HookError:
        from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
        from botocore import exceptions as bex

        where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}" if bucket else "S3"
        if isinstance(exc, S3UploadFailedError | S3TransferFailedError):
            inner = exc.__cause__ or exc.__context__  # boto3 wraps the ClientError implicitly
            if isinstance(inner, Exception):
                exc = inner
        if isinstance(exc, bex.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "") or "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = f"S3 {operation} on {where} failed: {code or 'error'} (HTTP {status})"
            if code in _NOT_FOUND or status == 404:
                return S3NotFound(message, conn_id=self.conn_id, bucket=bucket or "", key=key)
            if code in _DENIED or status == 403:
                return AuthenticationFailed(message, conn_id=self.conn_id)
            return HookError(message, conn_id=self.conn_id)
        if isinstance(
            exc,
            bex.EndpointConnectionError
            | bex.ConnectTimeoutError
            | bex.ReadTimeoutError
            | bex.ConnectionClosedError,
        ):
            config = self._config()
            return HookConnectionError(
                f"S3 {operation} on {where}: endpoint {self.endpoint_url or 'AWS'} could not be "
                f"reached ({type(exc).__name__}; {config.retries['max_attempts']} attempt(s), "
                f"connect timeout {config.connect_timeout} s, read timeout {config.read_timeout} s)",
                conn_id=self.conn_id,
            )
        if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
            return AuthenticationFailed(
                f"S3 {operation} on {where}: no usable AWS credentials (set login/password or "
                "a profile on the connection)",
                conn_id=self.conn_id,
            )
        return HookError(
            f"S3 {operation} on {where} failed: {type(exc).__name__}", conn_id=self.conn_id
        )

    def _call(
        self,
        operation: str,
        bucket: str | None,
        key: str | None,
        action: Callable[[Any], ResultT],
    ) -> ResultT:
        """Run ``action(client)`` with error mapping and one credential refresh on denial."""

        def once() -> ResultT:
            with self._mapped(operation, bucket, key):
                return action(self.get_conn())

        return self.run_with_refresh(once)

    @contextlib.contextmanager
    def _mapped(self, operation: str, bucket: str | None, key: str | None) -> Iterator[None]:
        """Translate boto3/botocore errors raised inside the block into hookline errors."""
        _boto3()
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error(exc, operation, bucket, key) from exc

    def _bucket_key(self, key: str, bucket_name: str | None) -> tuple[str, str]:
        """Airflow's rule: a full ``s3://`` key needs no bucket; else the bucket (or the default)."""
        if bucket_name is None and key.startswith(("s3://", "s3a://", "s3n://")):
            return parse_s3_url(key)
        return self._bucket(bucket_name), key

    def _bucket(self, bucket_name: str | None) -> str:
        bucket = bucket_name or self.connection.extra.get("bucket_name")
        if not bucket:
            raise ValueError("no bucket: pass bucket_name or set the bucket_name extra")
        return str(bucket)

    # -- buckets -----------------------------------------------------------------------------

    def create_bucket(self, bucket_name: str | None = None, region_name: str | None = None) -> None:
        """Create a bucket in ``region_name`` (default: the hook's region)."""
        bucket = self._bucket(bucket_name)
        region = region_name or self.region_name or "us-east-1"
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._call("create_bucket", bucket, None, lambda c: c.create_bucket(**kwargs))

    def check_for_bucket(self, bucket_name: str | None = None) -> bool:
        """True when the bucket exists (and is reachable with these credentials)."""
        bucket = self._bucket(bucket_name)
        try:
            self._call("head_bucket", bucket, None, lambda c: c.head_bucket(Bucket=bucket))
        except S3NotFound:
            return False
        return True

    def delete_bucket(self, bucket_name: str, force_delete: bool = False) -> None:
        """Delete a bucket; with ``force_delete``, delete its objects first."""
        if force_delete:
            keys = self.list_keys(bucket_name)
            if keys:
                self.delete_objects(bucket_name, keys)
        self._call(
            "delete_bucket", bucket_name, None, lambda c: c.delete_bucket(Bucket=bucket_name)
        )

    # -- writing -----------------------------------------------------------------------------

    def _refuse_overwrite(self, bucket: str, key: str, replace: bool) -> None:
        if not replace and self.check_for_key(key, bucket):
            raise ValueError(f"The key s3://{bucket}/{key} already exists (pass replace=True)")

    def _upload_target(
        self,
        key: str,
        bucket_name: str | None,
        replace: bool,
        encrypt: bool,
        acl_policy: str | None,
    ) -> tuple[str, str, dict[str, str]]:
        """Where an upload goes and how: the bucket and key (Airflow's rule), refused when the
        object exists and ``replace`` is False, and the object's extra arguments (encryption, ACL).

        Raises:
            ValueError: the key exists and ``replace`` is False.
        """
        bucket, key = self._bucket_key(key, bucket_name)
        self._refuse_overwrite(bucket, key, replace)
        return bucket, key, self._extra_args(encrypt, acl_policy)

    @staticmethod
    def _extra_args(encrypt: bool, acl_policy: str | None) -> dict[str, str]:
        args: dict[str, str] = {}
        if encrypt:
            args["ServerSideEncryption"] = "AES256"
        if acl_policy:
            args["ACL"] = acl_policy
        return args

    def load_file(
        self,
        filename: str | Path,
        key: str,
        bucket_name: str | None = None,
        replace: bool = False,
        encrypt: bool = False,
        acl_policy: str | None = None,
        gzip: bool = False,
    ) -> None:
        """Upload a local file; files from ``multipart_threshold_bytes`` up go in parts.

        With ``gzip`` (Airflow's), the file is gzip-compressed (into a temporary file) first.

        Raises:
            ValueError: the key exists and ``replace`` is False.
        """
        bucket, key, extra_args = self._upload_target(
            key, bucket_name, replace, encrypt, acl_policy
        )
        config = self._transfer_config()
        with contextlib.ExitStack() as stack:
            source = str(filename)
            if gzip:
                source = stack.enter_context(_gzipped_copy(Path(filename)))
            self._call(
                "upload",
                bucket,
                key,
                lambda c: c.upload_file(
                    source, bucket, key, ExtraArgs=extra_args or None, Config=config
                ),
            )

    def load_bytes(
        self,
        bytes_data: bytes,
        key: str,
        bucket_name: str | None = None,
        replace: bool = False,
        encrypt: bool = False,
        acl_policy: str | None = None,
    ) -> None:
        """Upload bytes as one object.

        Raises:
            ValueError: the key exists and ``replace`` is False.
        """
        bucket, key, extra_args = self._upload_target(
            key, bucket_name, replace, encrypt, acl_policy
        )
        self._call(
            "put_object",
            bucket,
            key,
            lambda c: c.put_object(Bucket=bucket, Key=key, Body=bytes_data, **extra_args),
        )

    def load_string(
        self,
        string_data: str,
        key: str,
        bucket_name: str | None = None,
        replace: bool = False,
        encrypt: bool = False,
        encoding: str | None = None,
        acl_policy: str | None = None,
        compression: str | None = None,
    ) -> None:
        """Upload text (encoded with ``encoding``, default UTF-8) as one object; with
        ``compression="gzip"`` (Airflow's only choice) gzip-compressed.

        Raises:
            ValueError: the key exists and ``replace`` is False.
            HookArgumentError: another compression.
        """
        data = string_data.encode(encoding or "utf-8")
        if compression is not None:
            if compression != "gzip":
                raise HookArgumentError(
                    f"compression must be 'gzip' or None, not {compression!r}",
                    conn_id=self.conn_id,
                )
            data = gzip_module.compress(data)
        self.load_bytes(data, key, bucket_name, replace, encrypt, acl_policy)

    # -- reading -----------------------------------------------------------------------------

    def check_for_key(self, key: str, bucket_name: str | None = None) -> bool:
        """True when the object exists; False when it or its bucket does not."""
        return self.head_object(key, bucket_name) is not None

    def get_key_info(self, key: str, bucket_name: str | None = None) -> S3KeyInfo:
        """The object's metadata (HEAD) as a typed value (:meth:`get_key` returns boto3's object).

        Raises:
            S3NotFound: the bucket or key does not exist.
        """
        bucket, key = self._bucket_key(key, bucket_name)
        head = self._call(
            "head_object", bucket, key, lambda c: c.head_object(Bucket=bucket, Key=key)
        )
        return S3KeyInfo(
            bucket=bucket,
            key=key,
            size_bytes=int(head.get("ContentLength", 0)),
            etag=str(head.get("ETag", "")).strip('"'),
            last_modified=head.get("LastModified"),
            content_type=head.get("ContentType"),
            metadata=dict(head.get("Metadata") or {}),
        )

    def read_key_bytes(self, key: str, bucket_name: str | None = None) -> bytes:
        """The object's content as bytes.

        Raises:
            S3NotFound: the bucket or key does not exist.
        """
        bucket, key = self._bucket_key(key, bucket_name)

        def read(client: Any) -> bytes:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return self._call("get_object", bucket, key, read)

    def read_key(self, key: str, bucket_name: str | None = None, encoding: str = "utf-8") -> str:
        """The object's content decoded as text (Airflow's ``read_key``)."""
        return self.read_key_bytes(key, bucket_name).decode(encoding)

    def iter_keys(
        self,
        bucket_name: str | None = None,
        prefix: str = "",
        delimiter: str = "",
        page_size: int | None = None,
        start_after_key: str = "",
    ) -> Iterator[str]:
        """Yield keys page by page (ListObjectsV2), without loading them all."""
        bucket = self._bucket(bucket_name)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": delimiter}
        if start_after_key:
            kwargs["StartAfter"] = start_after_key
        pagination = {"PageSize": page_size} if page_size else {}
        pages = self._call(
            "list_objects_v2",
            bucket,
            prefix or None,
            lambda c: c.get_paginator("list_objects_v2").paginate(
                **kwargs, PaginationConfig=pagination
            ),
        )
        iterator = iter(pages)
        while True:
            with self._mapped("list_objects_v2", bucket, prefix or None):
                page = next(iterator, None)
            if page is None:
                return
            for item in page.get("Contents", ()):
                yield str(item["Key"])

    def list_keys(
        self,
        bucket_name: str | None = None,
        prefix: str = "",
        delimiter: str = "",
        page_size: int | None = None,
        start_after_key: str = "",
    ) -> list[str]:
        """Every key under ``prefix`` (all pages); with a delimiter, keys at that level only.

        Raises:
            S3NotFound: the bucket does not exist.
        """
        return list(self.iter_keys(bucket_name, prefix, delimiter, page_size, start_after_key))

    def list_prefixes(
        self, bucket_name: str | None = None, prefix: str = "", delimiter: str = "/"
    ) -> list[str]:
        """The common prefixes ("folders") directly under ``prefix``."""
        bucket = self._bucket(bucket_name)

        def collect(client: Any) -> list[str]:
            paginator = client.get_paginator("list_objects_v2")
            out: list[str] = []
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter=delimiter):
                out.extend(str(p["Prefix"]) for p in page.get("CommonPrefixes", ()))
            return out

        return self._call("list_objects_v2", bucket, prefix or None, collect)

    def download_file(
        self,
        key: str,
        bucket_name: str | None = None,
        local_path: str | Path | None = None,
    ) -> str:
        """Download an object (in parts when large) and return the local file path.

        ``local_path`` may be a file path, an existing directory (the key's base name is used), or
        None (a new temporary directory).

        Raises:
            S3NotFound: the bucket or key does not exist (no file is left behind).
        """
        bucket, key = self._bucket_key(key, bucket_name)
        if local_path is None:
            target = Path(tempfile.mkdtemp(prefix="hookline-s3-")) / Path(key).name
        else:
            target = Path(local_path)
            if target.is_dir():
                target = target / Path(key).name
        config = self._transfer_config()
        self._call(
            "download",
            bucket,
            key,
            lambda c: c.download_file(bucket, key, str(target), Config=config),
        )
        return str(target)

    # -- deleting ----------------------------------------------------------------------------

    def delete_objects(self, bucket: str, keys: str | Iterable[str]) -> None:
        """Delete keys in batches of 1,000.

        Raises:
            HookError: S3 reported keys it could not delete (named in the message).
        """
        all_keys = [keys] if isinstance(keys, str) else list(keys)
        for start in range(0, len(all_keys), _DELETE_BATCH):
            batch = all_keys[start : start + _DELETE_BATCH]
            response = self._call(
                "delete_objects", bucket, None, functools.partial(_delete_batch, bucket, batch)
            )
            errors = response.get("Errors") or []
            if errors:
                failed = ", ".join(f"{e.get('Key')} ({e.get('Code')})" for e in errors[:10])
                raise HookError(
                    f"S3 delete_objects on s3://{bucket} failed for {len(errors)} key(s): {failed}",
                    conn_id=self.conn_id,
                )

    # -- testing -----------------------------------------------------------------------------

    def _test(self) -> None:
        """List buckets: one signed round trip to the endpoint."""
        self._call("list_buckets", None, None, lambda c: c.list_buckets())


@contextlib.contextmanager
def _gzipped_copy(path: Path) -> Iterator[str]:
    """A gzip-compressed copy of ``path`` in a temporary file, deleted on exit."""
    with tempfile.NamedTemporaryFile(suffix=".gz", delete=False) as tmp:
        with path.open("rb") as source, gzip_module.GzipFile(fileobj=tmp, mode="wb") as target:
            shutil.copyfileobj(source, target)
        name = tmp.name
    try:
        yield name
    finally:
        Path(name).unlink(missing_ok=True)


def _delete_batch(bucket: str, keys: list[str], client: Any) -> Any:
    return client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
    )
