"""Airflow's S3Hook object methods, as a mixin of :class:`hookline.hooks.s3.S3Hook`.

``get_key`` returns boto3's ``S3.Object`` (loaded), as Airflow's does; ``get_bucket`` boto3's
``S3.Bucket``; plus ``head_object``, ``check_for_prefix``, ``get_wildcard_key`` /
``check_for_wildcard_key``, ``copy_object``, ``generate_presigned_url`` and ``load_file_obj``.
Every call goes through the hook's error mapping (``S3NotFound``, ``AuthenticationFailed`` with
one credential refresh, ``HookConnectionError``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from hookline.exceptions import HookArgumentError, S3NotFound

ResultT = TypeVar("ResultT")

__all__ = ["S3ObjectsMixin"]


class S3ObjectsMixin:
    """Airflow's object-level S3Hook methods (needs S3Hook's client, resource and error mapping)."""

    if TYPE_CHECKING:
        conn_id: str

        def get_resource(self) -> Any: ...

        def _call(
            self,
            operation: str,
            bucket: str | None,
            key: str | None,
            action: Callable[[Any], ResultT],
        ) -> ResultT: ...

        def _bucket_key(self, key: str, bucket_name: str | None) -> tuple[str, str]: ...

        def _bucket(self, bucket_name: str | None) -> str: ...

        def _upload_target(
            self,
            key: str,
            bucket_name: str | None,
            replace: bool,
            encrypt: bool,
            acl_policy: str | None,
        ) -> tuple[str, str, dict[str, str]]: ...

        def _transfer_config(self) -> Any: ...

        def list_keys(
            self,
            bucket_name: str | None = None,
            prefix: str = "",
            delimiter: str = "",
            page_size: int | None = None,
            start_after_key: str = "",
        ) -> list[str]: ...

        def list_prefixes(
            self, bucket_name: str | None = None, prefix: str = "", delimiter: str = "/"
        ) -> list[str]: ...

    def get_key(self, key: str, bucket_name: str | None = None) -> Any:
        """boto3's ``S3.Object`` for the key, loaded (its metadata fetched), as Airflow returns it.

        Raises:
            S3NotFound: the bucket or key does not exist.
        """
        bucket, key = self._bucket_key(key, bucket_name)

        def load(_client: Any) -> Any:
            obj = self.get_resource().Object(bucket, key)
            obj.load()
            return obj

        return self._call("head_object", bucket, key, load)

    def get_bucket(self, bucket_name: str | None = None) -> Any:
        """boto3's ``S3.Bucket`` (no request is made until it is used)."""
        bucket = self._bucket(bucket_name)
        return self._call("get_bucket", bucket, None, lambda _c: self.get_resource().Bucket(bucket))

    def head_object(self, key: str, bucket_name: str | None = None) -> dict[str, Any] | None:
        """The raw ``HeadObject`` response, or None when the object does not exist (Airflow's)."""
        bucket, key = self._bucket_key(key, bucket_name)
        try:
            response: dict[str, Any] = self._call(
                "head_object", bucket, key, lambda c: c.head_object(Bucket=bucket, Key=key)
            )
        except S3NotFound:
            return None
        return response

    def check_for_prefix(self, prefix: str, delimiter: str, bucket_name: str | None = None) -> bool:
        """True when ``prefix`` (a "folder", ending in ``delimiter`` or not) holds any key."""
        prefix = prefix if prefix.endswith(delimiter) else prefix + delimiter
        parent = re.split(
            rf"[^{re.escape(delimiter)}]+{re.escape(delimiter)}$", prefix, maxsplit=1
        )[0]
        return prefix in self.list_prefixes(bucket_name, parent, delimiter)

    def get_wildcard_key(
        self, wildcard_key: str, bucket_name: str | None = None, delimiter: str = ""
    ) -> Any | None:
        """boto3's ``S3.Object`` of the first key matching a Unix shell wildcard
        (``data/2024-*.csv``), or None."""
        bucket, pattern = self._bucket_key(wildcard_key, bucket_name)
        prefix = re.split(r"[\[*?]", pattern, maxsplit=1)[0]
        for key in self.list_keys(bucket, prefix=prefix, delimiter=delimiter):
            if fnmatch.fnmatchcase(key, pattern):
                return self.get_key(key, bucket)
        return None

    def check_for_wildcard_key(
        self, wildcard_key: str, bucket_name: str | None = None, delimiter: str = ""
    ) -> bool:
        """True when some key matches the wildcard."""
        return self.get_wildcard_key(wildcard_key, bucket_name, delimiter) is not None

    def _location(self, key: str, bucket_name: str | None, role: str) -> tuple[str, str]:
        if bucket_name is not None and urlsplit(key).netloc:
            raise HookArgumentError(
                f"{role}_bucket_key must be a key relative to {role}_bucket_name, not a full "
                "s3:// URL, when a bucket name is given",
                conn_id=self.conn_id,
            )
        return self._bucket_key(key, bucket_name)

    def copy_object(
        self,
        source_bucket_key: str,
        dest_bucket_key: str,
        source_bucket_name: str | None = None,
        dest_bucket_name: str | None = None,
        source_version_id: str | None = None,
        acl_policy: str | None = None,
        meta_data_directive: str | None = None,
    ) -> dict[str, Any]:
        """Copy an object (keys as ``s3://`` URLs, or relative to the bucket names); returns
        the ``CopyObject`` response."""
        src_bucket, src_key = self._location(source_bucket_key, source_bucket_name, "source")
        dst_bucket, dst_key = self._location(dest_bucket_key, dest_bucket_name, "dest")
        source: dict[str, str] = {"Bucket": src_bucket, "Key": src_key}
        if source_version_id:
            source["VersionId"] = source_version_id
        kwargs: dict[str, Any] = {"Bucket": dst_bucket, "Key": dst_key, "CopySource": source}
        if acl_policy:
            kwargs["ACL"] = acl_policy
        if meta_data_directive:
            kwargs["MetadataDirective"] = meta_data_directive
        response: dict[str, Any] = self._call(
            "copy_object", dst_bucket, dst_key, lambda c: c.copy_object(**kwargs)
        )
        return response

    def generate_presigned_url(
        self,
        client_method: str,
        params: Mapping[str, Any] | None = None,
        expires_in: int = 3600,
        http_method: str | None = None,
    ) -> str:
        """A presigned URL for ``client_method`` (``"get_object"``, ``"put_object"``) with
        ``params`` (``{"Bucket": ..., "Key": ...}``), valid for ``expires_in`` seconds."""
        bucket = (params or {}).get("Bucket")
        key = (params or {}).get("Key")
        url: str = self._call(
            "generate_presigned_url",
            bucket,
            key,
            lambda c: c.generate_presigned_url(
                ClientMethod=client_method,
                Params=dict(params or {}),
                ExpiresIn=expires_in,
                HttpMethod=http_method,
            ),
        )
        return url

    def load_file_obj(
        self,
        file_obj: IO[bytes],
        key: str,
        bucket_name: str | None = None,
        replace: bool = False,
        encrypt: bool = False,
        acl_policy: str | None = None,
    ) -> None:
        """Upload a binary file object (in parts when large).

        Raises:
            ValueError: the key exists and ``replace`` is False.
        """
        bucket, key, extra_args = self._upload_target(
            key, bucket_name, replace, encrypt, acl_policy
        )
        config = self._transfer_config()
        self._call(
            "upload",
            bucket,
            key,
            lambda c: c.upload_fileobj(
                file_obj, bucket, key, ExtraArgs=extra_args or None, Config=config
            ),
        )
