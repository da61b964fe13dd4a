"""S3 operators over :class:`~hookline.hooks.s3.S3Hook`: create, copy, delete and list objects.

Keys may be full ``s3://bucket/key`` URLs instead of a bucket name and a key, as in Airflow. The
connection (``aws_conn_id``, default ``aws_default``) holds the credentials and the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hookline.exceptions import InvalidPipeline
from hookline.hooks.s3 import S3Hook, parse_s3_url
from hookline.operators.base import BaseOperator

__all__ = [
    "S3CopyObjectOperator",
    "S3CreateObjectOperator",
    "S3DeleteObjectsOperator",
    "S3ListOperator",
    "s3_location",
]


def s3_location(hook: S3Hook, key: str, bucket: str | None) -> tuple[str, str]:
    """``(bucket, key)`` from a key that may be a full ``s3://`` URL (Airflow's rule), else the
    given bucket, else the connection's ``bucket_name`` extra.

    Raises:
        InvalidPipeline: no bucket anywhere.
    """
    if bucket is None and key.startswith(("s3://", "s3a://", "s3n://")):
        return parse_s3_url(key)
    bucket = bucket or hook.connection.extra.get("bucket_name")
    if not bucket:
        raise InvalidPipeline(
            f"no bucket for key {key!r}: pass a bucket, an s3:// URL, or set the bucket_name extra"
        )
    return str(bucket), key


class S3CreateObjectOperator(BaseOperator):
    """Write ``data`` (text or bytes) as one object.

    Args:
        task_id: The task id.
        s3_key: The key, or a full ``s3://`` URL (templated).
        data: The content (templated).
        s3_bucket: The bucket, when ``s3_key`` is not a URL (templated).
        replace: Overwrite an existing object (otherwise the task fails).
        encrypt: Server-side encryption (AES256).
        acl_policy: A canned ACL.
        encoding: Text encoding (default UTF-8).
        aws_conn_id: The AWS connection.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("s3_bucket", "s3_key", "data")

    def __init__(
        self,
        *,
        task_id: str,
        s3_key: str,
        data: str | bytes,
        s3_bucket: str | None = None,
        replace: bool = False,
        encrypt: bool = False,
        acl_policy: str | None = None,
        encoding: str | None = None,
        aws_conn_id: str = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.s3_bucket = s3_bucket
        self.s3_key = s3_key
        self.data = data
        self.replace = replace
        self.encrypt = encrypt
        self.acl_policy = acl_policy
        self.encoding = encoding
        self.aws_conn_id = aws_conn_id

    def execute(self, context: dict[str, Any]) -> Any:
        """Upload the data; return ``s3://bucket/key``."""
        with S3Hook(self.aws_conn_id) as hook:
            bucket, key = s3_location(hook, self.s3_key, self.s3_bucket)
            if isinstance(self.data, bytes):
                hook.load_bytes(self.data, key, bucket, self.replace, self.encrypt, self.acl_policy)
            else:
                hook.load_string(
                    str(self.data), key, bucket, self.replace, self.encrypt, self.encoding,
                    self.acl_policy,
                )  # fmt: skip
        return f"s3://{bucket}/{key}"


class S3CopyObjectOperator(BaseOperator):
    """Copy an object within S3 (server side).

    Args:
        task_id: The task id.
        source_bucket_key: The source key or ``s3://`` URL (templated).
        dest_bucket_key: The destination key or ``s3://`` URL (templated).
        source_bucket_name: The source bucket (templated).
        dest_bucket_name: The destination bucket (templated).
        source_version_id: A version of the source object.
        acl_policy: A canned ACL for the copy.
        aws_conn_id: The AWS connection.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = (
        "source_bucket_key",
        "dest_bucket_key",
        "source_bucket_name",
        "dest_bucket_name",
    )

    def __init__(
        self,
        *,
        task_id: str,
        source_bucket_key: str,
        dest_bucket_key: str,
        source_bucket_name: str | None = None,
        dest_bucket_name: str | None = None,
        source_version_id: str | None = None,
        acl_policy: str | None = None,
        aws_conn_id: str = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.source_bucket_key = source_bucket_key
        self.dest_bucket_key = dest_bucket_key
        self.source_bucket_name = source_bucket_name
        self.dest_bucket_name = dest_bucket_name
        self.source_version_id = source_version_id
        self.acl_policy = acl_policy
        self.aws_conn_id = aws_conn_id

    def execute(self, context: dict[str, Any]) -> Any:
        """Copy the object; return the destination ``s3://`` URL."""
        with S3Hook(self.aws_conn_id) as hook:
            hook.copy_object(
                self.source_bucket_key,
                self.dest_bucket_key,
                self.source_bucket_name,
                self.dest_bucket_name,
                self.source_version_id,
                self.acl_policy,
            )
            bucket, key = s3_location(hook, self.dest_bucket_key, self.dest_bucket_name)
        return f"s3://{bucket}/{key}"


class S3DeleteObjectsOperator(BaseOperator):
    """Delete objects: the given keys, or every key under a prefix (exactly one of the two).

    Args:
        task_id: The task id.
        bucket: The bucket (templated).
        keys: A key or a list of keys (templated).
        prefix: Delete every key under this prefix (templated).
        aws_conn_id: The AWS connection.
        **kwargs: :class:`BaseOperator` arguments.

    Raises:
        InvalidPipeline: both or neither of ``keys`` and ``prefix``.
    """

    template_fields = ("keys", "bucket", "prefix")

    def __init__(
        self,
        *,
        task_id: str,
        bucket: str,
        keys: str | Sequence[str] | None = None,
        prefix: str | None = None,
        aws_conn_id: str = "aws_default",
        **kwargs: Any,
    ) -> None:
        if (keys is None) == (prefix is None):
            raise InvalidPipeline(
                f"task {task_id!r}: give either keys or prefix, not both or neither",
                task_id=task_id,
            )
        super().__init__(task_id, **kwargs)
        self.bucket = bucket
        self.keys = keys
        self.prefix = prefix
        self.aws_conn_id = aws_conn_id

    def execute(self, context: dict[str, Any]) -> Any:
        """Delete the objects; return how many keys were deleted."""
        with S3Hook(self.aws_conn_id) as hook:
            if self.keys is not None:
                keys = [self.keys] if isinstance(self.keys, str) else list(self.keys)
            else:
                keys = hook.list_keys(self.bucket, prefix=self.prefix or "")
            if keys:
                hook.delete_objects(self.bucket, keys)
        return len(keys)


class S3ListOperator(BaseOperator):
    """List the keys under a prefix; the task's result is the list.

    Args:
        task_id: The task id.
        bucket: The bucket (templated).
        prefix: Only keys under this prefix (templated).
        delimiter: With ``/``, keys at that level only (templated).
        aws_conn_id: The AWS connection.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("bucket", "prefix", "delimiter")

    def __init__(
        self,
        *,
        task_id: str,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        aws_conn_id: str = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.bucket = bucket
        self.prefix = prefix
        self.delimiter = delimiter
        self.aws_conn_id = aws_conn_id

    def execute(self, context: dict[str, Any]) -> Any:
        """Return the keys."""
        with S3Hook(self.aws_conn_id) as hook:
            return hook.list_keys(self.bucket, prefix=self.prefix, delimiter=self.delimiter)
