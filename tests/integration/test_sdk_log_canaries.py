"""Canaries in real SDK DEBUG logs against moto, with no ``masking.install()`` (issues 12.7, 13.5).

botocore logs every request's headers (``X-Amz-Security-Token``, ``Authorization``) and every response
body (a ``SecretString``, a decrypted parameter) at DEBUG. The handler here is added the way
``logging.basicConfig`` adds one, after hookline built its clients, and nothing calls ``install()``:
masking must be on by default.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import boto3
import pytest

from hookline import Connection, masking
from hookline.hooks.s3 import S3Hook
from hookline.secrets.aws import AwsSecretsManagerBackend, AwsSsmBackend
from tests.servers.moto import MotoServer

SECRET = "c4n4ry-S3cret!/AwsSecretAccessKey"
TOKEN = "c4n4ry-Sess10nT0ken-0123456789"
CANARY = "c4n4ry-S3cret!"


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Root at DEBUG; the caller adds the handler (as basicConfig would) with :func:`attach`."""
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(old_level)
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is stream:
            root.removeHandler(handler)


def attach(stream: io.StringIO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logging.getLogger().addHandler(handler)


def test_s3_session_token_in_request_headers_is_masked(
    moto_server: MotoServer, debug_log: io.StringIO
) -> None:
    """The connection's session token and secret key never reach a handler added later, though
    botocore logs the signed request headers."""
    conn = Connection(
        conn_id="lake",
        conn_type="aws",
        login="AKIATESTING",
        password=SECRET,
        extra={
            "endpoint_url": moto_server.endpoint_url,
            "region_name": "us-east-1",
            "aws_session_token": TOKEN,
        },
    )
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    with S3Hook(conn) as hook:
        hook.get_conn()
        attach(debug_log)
        hook.create_bucket(bucket)
        hook.load_string(f"body {CANARY}", "k.txt", bucket)
        assert hook.read_key("k.txt", bucket) == f"body {CANARY}"
    text = debug_log.getvalue()
    assert "X-Amz-Security-Token" in text  # botocore did log the headers
    for leaked in (TOKEN, SECRET, quote(SECRET, safe=""), "c4n4ry"):
        assert leaked not in text


def test_ambient_session_token_is_masked_by_its_header_name(
    moto_server: MotoServer, debug_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials from the environment are never registered; the header names still hide them
    (the hook's connection switched masking on)."""
    ambient = "AmbientT0kenNeverRegistered0123456789"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", ambient)
    conn = Connection(
        conn_id="lake",
        conn_type="aws",
        extra={"endpoint_url": moto_server.endpoint_url, "region_name": "us-east-1"},
    )
    with S3Hook(conn) as hook:
        hook.get_conn()
        attach(debug_log)
        assert hook.check_for_bucket(f"missing-{uuid.uuid4().hex[:8]}") is False
    text = debug_log.getvalue()
    assert "X-Amz-Security-Token" in text
    assert masking.registered_count() == 0
    assert ambient not in text


@pytest.mark.parametrize("service", ["secretsmanager", "ssm"])
def test_secret_values_in_response_bodies_are_masked(
    service: str, moto_server: MotoServer, debug_log: io.StringIO
) -> None:
    """The first lookup's response body (logged before the value is parsed and registered) shows
    neither the password of a URI nor one under a JSON key."""
    prefix = f"/t{uuid.uuid4().hex[:10]}/connections"
    uri = f"postgres://u:{quote(CANARY, safe='')}@h/db"
    fields = json.dumps({"conn_type": "http", "host": "h", "password": CANARY})
    kwargs = moto_server.client_kwargs()
    if service == "secretsmanager":
        client = boto3.client("secretsmanager", **kwargs)
        client.create_secret(Name=f"{prefix}/uri", SecretString=uri)
        client.create_secret(Name=f"{prefix}/json", SecretString=fields)
        backend: AwsSecretsManagerBackend = AwsSecretsManagerBackend(
            connections_prefix=prefix, **kwargs
        )
    else:
        client = boto3.client("ssm", **kwargs)
        client.put_parameter(Name=f"{prefix}/uri", Value=uri, Type="SecureString")
        client.put_parameter(Name=f"{prefix}/json", Value=fields, Type="SecureString")
        backend = AwsSsmBackend(connections_prefix=prefix, **kwargs)
    attach(debug_log)
    try:
        assert masking.redact(f"x {CANARY}") == f"x {CANARY}"  # not registered yet
        uri_conn = backend.get_connection("uri")
        json_conn = backend.get_connection("json")
    finally:
        backend.close()
    assert uri_conn is not None
    assert json_conn is not None
    assert (uri_conn.password, json_conn.password) == (CANARY, CANARY)
    text = debug_log.getvalue()
    assert "Response body" in text
    for leaked in (CANARY, quote(CANARY, safe=""), "c4n4ry"):
        assert leaked not in text
