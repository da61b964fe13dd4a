"""S3Hook's Airflow-parity methods against a real moto server (issue 13)."""

from __future__ import annotations

import gzip
import io
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import HookArgumentError, S3NotFound
from hookline.hooks.s3 import S3Hook, S3KeyInfo
from tests.servers.moto import MotoServer

SECRET = "c4n4ry-S3cret!/AwsSecretAccessKey"


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    conn = Connection(
        conn_id="lake",
        conn_type="aws",
        login="AKIATESTING",
        password=SECRET,
        extra={"endpoint_url": moto_server.endpoint_url, "region_name": "us-east-1"},
    )
    with S3Hook(conn) as hook:
        yield hook


@pytest.fixture
def bucket(s3: S3Hook) -> str:
    name = f"p-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


def test_get_key_returns_a_loaded_boto3_object(s3: S3Hook, bucket: str) -> None:
    """get_key is boto3's S3.Object (as Airflow's); get_key_info keeps the typed metadata."""
    s3.load_string("hello", "a/b.txt", bucket)
    obj = s3.get_key("a/b.txt", bucket)
    assert type(obj).__name__ == "s3.Object"
    assert (obj.bucket_name, obj.key, obj.content_length) == (bucket, "a/b.txt", 5)
    assert obj.get()["Body"].read() == b"hello"
    assert s3.get_key(f"s3://{bucket}/a/b.txt").key == "a/b.txt"
    info = s3.get_key_info("a/b.txt", bucket)
    assert isinstance(info, S3KeyInfo)
    assert info.size_bytes == 5
    with pytest.raises(S3NotFound):
        s3.get_key("missing.txt", bucket)
    assert s3.head_object("a/b.txt", bucket)["ContentLength"] == 5
    assert s3.head_object("missing.txt", bucket) is None


def test_get_bucket_and_prefix_and_wildcard_checks(s3: S3Hook, bucket: str) -> None:
    """get_bucket (boto3 Bucket), check_for_prefix, get_wildcard_key / check_for_wildcard_key."""
    for key in ("data/2024/01.csv", "data/2024/02.csv", "data/2025/01.json", "top.txt"):
        s3.load_string(key, key, bucket)
    assert sorted(o.key for o in s3.get_bucket(bucket).objects.all()) == [
        "data/2024/01.csv",
        "data/2024/02.csv",
        "data/2025/01.json",
        "top.txt",
    ]
    assert s3.check_for_prefix("data/2024", "/", bucket)
    assert s3.check_for_prefix("data/", "/", bucket)
    assert not s3.check_for_prefix("data/2023", "/", bucket)
    assert s3.check_for_wildcard_key("data/*/0?.csv", bucket)
    assert not s3.check_for_wildcard_key("data/*.parquet", bucket)
    found = s3.get_wildcard_key(f"s3://{bucket}/data/2025/*")
    assert found is not None
    assert found.key == "data/2025/01.json"


def test_copy_object_delete_objects_and_presigned_url(s3: S3Hook, bucket: str) -> None:
    """copy_object (URLs or relative keys), delete_objects, a presigned GET that works."""
    other = f"p-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(other)
    s3.load_bytes(b"payload", "src.bin", bucket)
    s3.copy_object(f"s3://{bucket}/src.bin", f"s3://{other}/copied.bin")
    s3.copy_object("src.bin", "copy2.bin", source_bucket_name=bucket, dest_bucket_name=bucket)
    assert s3.read_key_bytes("copied.bin", other) == b"payload"
    assert s3.read_key_bytes("copy2.bin", bucket) == b"payload"
    with pytest.raises(HookArgumentError, match="relative"):
        s3.copy_object(f"s3://{bucket}/src.bin", "x", source_bucket_name=bucket)
    url = s3.generate_presigned_url("get_object", {"Bucket": bucket, "Key": "src.bin"}, 60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"payload"
    assert SECRET not in url
    s3.delete_objects(bucket, ["src.bin", "copy2.bin"])
    assert s3.list_keys(bucket) == []


def test_load_file_obj_replace_encrypt_and_compression(
    s3: S3Hook, bucket: str, tmp_path: Path
) -> None:
    """load_file_obj honours replace=; encrypt= sets SSE; compression="gzip" and gzip=True."""
    s3.load_file_obj(io.BytesIO(b"v1"), "obj.bin", bucket, encrypt=True)
    with pytest.raises(ValueError, match="already exists"):
        s3.load_file_obj(io.BytesIO(b"v2"), "obj.bin", bucket)
    s3.load_file_obj(io.BytesIO(b"v2"), "obj.bin", bucket, replace=True)
    assert s3.read_key_bytes("obj.bin", bucket) == b"v2"
    s3.load_bytes(b"enc", "enc.bin", bucket, encrypt=True)
    assert s3.head_object("enc.bin", bucket)["ServerSideEncryption"] == "AES256"
    s3.load_string("compress me " * 50, "t.txt.gz", bucket, compression="gzip")
    assert gzip.decompress(s3.read_key_bytes("t.txt.gz", bucket)) == b"compress me " * 50
    with pytest.raises(HookArgumentError, match="compression must be"):
        s3.load_string("x", "t.bz2", bucket, compression="bz2")
    local = tmp_path / "data.csv"
    local.write_text("id\n1\n")
    s3.load_file(local, "data.csv.gz", bucket, gzip=True)
    assert gzip.decompress(s3.read_key_bytes("data.csv.gz", bucket)) == b"id\n1\n"
