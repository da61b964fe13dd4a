"""S3Hook against a real moto server: objects, listing, multipart, downloads, errors, no leaks."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import AuthenticationFailed, HookConnectionError, HookError
from hookline.hooks.s3 import MIB, S3Hook, S3NotFound, parse_s3_url
from tests.servers._proc import free_port
from tests.servers.moto import MotoServer

SECRET = "c4n4ry-S3cret!/AwsSecretAccessKey"
TOKEN = "c4n4ry-Sess10nT0ken"


def conn_for(endpoint_url: str, **extra: Any) -> Connection:
    return Connection(
        conn_id="lake",
        conn_type="aws",
        login="AKIATESTING",
        password=SECRET,
        extra={"endpoint_url": endpoint_url, "region_name": "us-east-1", **extra},
    )


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    with S3Hook(conn_for(moto_server.endpoint_url)) as hook:
        yield hook


@pytest.fixture
def bucket(s3: S3Hook) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


def assert_no_secret(exc: BaseException) -> None:
    text = f"{exc!s} {exc!r}"
    assert SECRET not in text
    assert "c4n4ry" not in text
    assert TOKEN not in text


def test_load_and_read_string_bytes(s3: S3Hook, bucket: str) -> None:
    """load_string/load_bytes write objects that read_key/read_key_bytes read back."""
    s3.load_string("héllo wörld", "greetings/hello.txt", bucket)
    s3.load_bytes(b"\x00\x01\x02", "bin/raw", bucket)
    assert s3.read_key("greetings/hello.txt", bucket) == "héllo wörld"
    assert s3.read_key_bytes("bin/raw", bucket) == b"\x00\x01\x02"
    assert s3.read_key(f"s3://{bucket}/greetings/hello.txt") == "héllo wörld"


def test_replace_false_refuses_to_overwrite(s3: S3Hook, bucket: str) -> None:
    """Airflow's rule: an existing key is not overwritten unless replace=True."""
    s3.load_string("v1", "k", bucket)
    with pytest.raises(ValueError, match="already exists"):
        s3.load_string("v2", "k", bucket)
    s3.load_string("v2", "k", bucket, replace=True)
    assert s3.read_key("k", bucket) == "v2"


def test_check_for_key_and_get_key(s3: S3Hook, bucket: str) -> None:
    """check_for_key is True/False; get_key gives HEAD metadata."""
    s3.load_string("12345", "a/b.csv", bucket)
    assert s3.check_for_key("a/b.csv", bucket) is True
    assert s3.check_for_key("a/missing.csv", bucket) is False
    assert s3.check_for_key("x", f"no-such-{bucket}") is False
    info = s3.get_key_info("a/b.csv", bucket)
    assert (info.bucket, info.key, info.size_bytes) == (bucket, "a/b.csv", 5)
    assert info.etag
    assert info.last_modified is not None
    assert s3.check_for_bucket(bucket) is True
    assert s3.check_for_bucket(f"no-such-{bucket}") is False


def test_list_keys_paginates_with_prefix_and_delimiter(s3: S3Hook, bucket: str) -> None:
    """list_keys walks every page; prefix filters; a delimiter stops at one level."""
    keys = [f"data/part-{i:03d}.csv" for i in range(25)] + ["data/sub/x.csv", "other.txt"]
    for key in keys:
        s3.load_bytes(b"x", key, bucket)
    assert s3.list_keys(bucket, page_size=7) == sorted(keys)
    assert s3.list_keys(bucket, prefix="data/", page_size=4) == sorted(keys[:26])
    assert s3.list_keys(bucket, prefix="data/", delimiter="/", page_size=5) == sorted(keys[:25])
    assert s3.list_prefixes(bucket, prefix="data/") == ["data/sub/"]
    assert s3.list_keys(bucket, prefix="nothing/") == []
    assert s3.list_keys(bucket, start_after_key="data/sub/x.csv") == ["other.txt"]


def test_delete_objects_in_batches(s3: S3Hook, bucket: str) -> None:
    """delete_objects removes the given keys (a single key or a list) and leaves the rest."""
    for i in range(5):
        s3.load_bytes(b"x", f"k{i}", bucket)
    s3.delete_objects(bucket, ["k0", "k1", "k2"])
    s3.delete_objects(bucket, "k3")
    assert s3.list_keys(bucket) == ["k4"]


def test_multipart_upload_above_threshold_and_download(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    """A file above the multipart threshold goes up in parts (ETag ``-N``) and comes back intact."""
    source = tmp_path / "big.bin"
    data = os.urandom(11 * MIB)
    source.write_bytes(data)
    conn = conn_for(moto_server.endpoint_url)
    with S3Hook(conn, multipart_threshold_bytes=5 * MIB, multipart_chunksize_bytes=5 * MIB) as hook:
        hook.load_file(source, "big/big.bin", bucket)
        info = hook.get_key_info("big/big.bin", bucket)
        assert info.size_bytes == len(data)
        assert info.etag.endswith("-3")  # 5 + 5 + 1 MiB parts
        path = hook.download_file("big/big.bin", bucket, tmp_path / "out.bin")
    assert Path(path).read_bytes() == data


def test_small_file_is_a_single_put(s3: S3Hook, bucket: str, tmp_path: Path) -> None:
    """Below the threshold a file is one PUT (plain ETag); download to a directory or a temp dir."""
    source = tmp_path / "small.txt"
    source.write_text("tiny")
    s3.load_file(source, "small.txt", bucket)
    assert "-" not in s3.get_key_info("small.txt", bucket).etag
    into_dir = s3.download_file("small.txt", bucket, tmp_path)
    assert into_dir == str(tmp_path / "small.txt")
    temp = Path(s3.download_file("small.txt", bucket))
    assert temp.read_text() == "tiny"
    temp.unlink()
    temp.parent.rmdir()


def test_missing_key_and_bucket_are_s3_not_found(s3: S3Hook, bucket: str, tmp_path: Path) -> None:
    """Reading a missing key or bucket raises S3NotFound naming the location, not the secret."""
    with pytest.raises(S3NotFound) as info:
        s3.read_key("nope.txt", bucket)
    assert f"s3://{bucket}/nope.txt" in str(info.value)
    assert "NoSuchKey" in str(info.value)
    assert (info.value.bucket, info.value.key) == (bucket, "nope.txt")
    assert_no_secret(info.value)
    with pytest.raises(S3NotFound, match="NoSuchBucket") as missing_bucket:
        s3.list_keys(f"no-such-{bucket}")
    assert_no_secret(missing_bucket.value)
    with pytest.raises(S3NotFound):
        s3.get_key_info("nope.txt", bucket)
    with pytest.raises(S3NotFound):
        s3.download_file("nope.txt", bucket, tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()


def test_upload_to_missing_bucket_is_hook_error(s3: S3Hook, tmp_path: Path) -> None:
    """Uploading into a bucket that does not exist is a typed HookError."""
    source = tmp_path / "f.txt"
    source.write_text("x")
    with pytest.raises(HookError, match="NoSuchBucket") as info:
        s3.load_file(source, "f.txt", "no-such-bucket-hookline", replace=True)
    assert_no_secret(info.value)


def test_endpoint_down_is_hook_connection_error() -> None:
    """Nothing listening: HookConnectionError naming the endpoint and limits, no secret."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    conn = conn_for(endpoint, aws_session_token=TOKEN)
    with S3Hook(conn, max_attempts=1, connect_timeout_s=1) as hook:
        with pytest.raises(HookConnectionError) as info:
            hook.read_key("k", "b")
        ok, message = hook.test_connection()
    assert endpoint in str(info.value)
    assert "1 attempt(s)" in str(info.value)
    assert_no_secret(info.value)
    assert ok is False
    assert SECRET not in message
    assert TOKEN not in message


def test_test_connection_lists_buckets(s3: S3Hook) -> None:
    """test_connection() succeeds against the moto endpoint."""
    assert s3.test_connection() == (True, "Connection successfully tested")


def test_access_denied_maps_to_authentication_failed(s3: S3Hook) -> None:
    """AWS AccessDenied / InvalidAccessKeyId errors are AuthenticationFailed, without the secret."""
    from botocore.exceptions import ClientError

    for code, status in (("AccessDenied", 403), ("InvalidAccessKeyId", 403)):
        error = ClientError(
            {
                "Error": {"Code": code, "Message": "denied"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "GetObject",
        )
        mapped = s3._error(error, "get_object", "b", "k")
        assert isinstance(mapped, AuthenticationFailed)
        assert code in str(mapped)
        assert_no_secret(mapped)


def test_settings_and_repr_hide_the_secret(moto_server: MotoServer) -> None:
    """Region and endpoint come from extras (or service_config); repr shows only the conn_id."""
    hook = S3Hook(conn_for(moto_server.endpoint_url))
    assert hook.region_name == "us-east-1"
    assert hook.endpoint_url == moto_server.endpoint_url
    legacy = Connection(
        conn_id="lake",
        conn_type="aws",
        extra={"service_config": {"s3": {"endpoint_url": "http://minio:9000"}}},
    )
    assert S3Hook(legacy).endpoint_url == "http://minio:9000"
    assert S3Hook(aws_conn_id="x").conn_id == "x"
    hook.get_conn()
    assert repr(hook) == "S3Hook(conn_id='lake')"
    assert SECRET not in repr(hook)
    assert parse_s3_url("s3://bkt/a/b.txt") == ("bkt", "a/b.txt")
    with pytest.raises(ValueError, match="no bucket"):
        hook.read_key("k")
    hook.close()


@pytest.mark.parametrize("conn_type", ["aws", "s3"])
def test_registered_for_aws_and_s3(moto_server: MotoServer, conn_type: str) -> None:
    """Connection.get_hook() builds a working S3Hook for aws and s3 connections."""
    conn = conn_for(moto_server.endpoint_url).replace(conn_type=conn_type)
    hook = conn.get_hook()
    assert isinstance(hook, S3Hook)
    with hook:
        assert hook.test_connection() == (True, "Connection successfully tested")
