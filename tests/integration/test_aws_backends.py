"""AWS Secrets Manager and SSM Parameter Store backends against a real moto server.

What every remote backend shares (reads, path traversal, lookup patterns, caching, outages,
deadlines, SDK logs) runs over all of them in tests/integration/test_remote_contract.py; here what is
AWS's own: key aliases, separators, role assumption, batch reads, IAM denial, STS answers in logs.

Each test writes under its own random prefix, so tests sharing the session server (also used by the
S3 hook tests) never see each other's data and nothing needs a reset. Tests that stop the server or
need IAM enforcement start their own with ``moto_factory``.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

import hookline
from hookline import masking
from hookline.cli.app import app
from hookline.exceptions import (
    BackendPermissionDenied,
)
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.secrets.aws import AwsSecretsManagerBackend, AwsSsmBackend
from hookline.secrets.env import EnvBackend
from hookline.secrets.remote import RemoteBackend
from tests.servers.moto import MotoServer

CANARY = "c4n4ry-S3cret!"
ROLE_ARN = "arn:aws:iam::123456789012:role/hookline-reader"


@pytest.fixture
def prefix() -> str:
    """A fresh prefix per test (tests share the session server)."""
    return f"t{uuid.uuid4().hex[:10]}/connections"


@pytest.fixture
def backends() -> Iterator[list[RemoteBackend]]:
    """Collects backends built by a test and closes them afterwards."""
    made: list[RemoteBackend] = []
    yield made
    for backend in made:
        backend.close()


def sm_client(server: MotoServer) -> Any:
    return boto3.client("secretsmanager", **server.client_kwargs())


def ssm_client(server: MotoServer) -> Any:
    return boto3.client("ssm", **server.client_kwargs())


def sm_backend(server: MotoServer, backends: list[RemoteBackend], **kwargs: Any) -> Any:
    backend = AwsSecretsManagerBackend(**{**server.client_kwargs(), **kwargs})
    backends.append(backend)
    return backend


def ssm_backend(server: MotoServer, backends: list[RemoteBackend], **kwargs: Any) -> Any:
    backend = AwsSsmBackend(**{**server.client_kwargs(), **kwargs})
    backends.append(backend)
    return backend


# -- Secrets Manager ------------------------------------------------------------------------------


def test_secrets_manager_uri_json_aliases_and_missing(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """URI secrets pass through; JSON secrets get Airflow's key aliases; missing ids are None."""
    sm = sm_client(moto_server)
    sm.create_secret(Name=f"{prefix}/uri", SecretString=f"postgres://u:{CANARY}@db:5432/app")
    sm.create_secret(
        Name=f"{prefix}/json",
        SecretString=json.dumps(
            {
                "engine": "mysql",
                "user": "bob",
                "pass": CANARY,
                "server": "db.example",
                "database": "sales",
                "port": "3306",
                "extra": {"charset": "utf8"},
                "ignored": "x",
            }
        ),
    )
    sm.create_secret(Name=f"{prefix}/binary", SecretBinary=b"http://h.example")
    b = sm_backend(moto_server, backends, connections_prefix=prefix)
    uri = b.get_connection("uri")
    assert (uri.conn_type, uri.host, uri.port, uri.password) == ("postgres", "db", 5432, CANARY)
    js = b.get_connection("json")
    assert (js.conn_type, js.login, js.password, js.host, js.schema, js.port) == (
        "mysql",
        "bob",
        CANARY,
        "db.example",
        "sales",
        3306,
    )
    assert js.extra_dejson == {"charset": "utf8"}
    assert b.get_conn_value("binary") == "http://h.example"
    assert b.get_conn_value("missing") is None
    assert b.lookup_keys("uri") == [f"{prefix}/uri"]
    assert b.stats()["errors"] == 0
    assert CANARY not in repr(b)


def test_secrets_manager_extra_conn_words_and_separator(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """extra_conn_words adds aliases; sep changes how prefix and id are joined."""
    sm_client(moto_server).create_secret(
        Name=f"{prefix}.db", SecretString=json.dumps({"conn_type": "http", "account": "svc"})
    )
    b = sm_backend(
        moto_server,
        backends,
        connections_prefix=prefix,
        sep=".",
        extra_conn_words={"login": ["account"]},
    )
    conn = b.get_connection("db")
    assert conn.login == "svc"


def test_role_assumption_logs_in_once_and_renews_near_expiry(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """role_arn assumes the role once for many lookups; credentials near expiry are renewed."""
    sm_client(moto_server).create_secret(Name=f"{prefix}/db", SecretString="sqlite://")
    b = sm_backend(moto_server, backends, connections_prefix=prefix, role_arn=ROLE_ARN)
    for _ in range(20):
        assert b.get_conn_value("db") == "sqlite://"
    assert b.stats()["logins"] == 1
    eager = sm_backend(
        moto_server,
        backends,
        connections_prefix=prefix,
        role_arn=ROLE_ARN,
        assume_role_kwargs={"DurationSeconds": 900},
        renew_before_s=3600,  # always "about to expire": renews before every call
    )
    for _ in range(3):
        assert eager.get_conn_value("db") == "sqlite://"
    assert eager.stats()["renewals"] == 3


def test_secrets_manager_prefetch_batches_twenty_per_call(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """prefetch() reads 25 secrets with 2 BatchGetSecretValue calls, skipping other prefixes."""
    sm = sm_client(moto_server)
    for n in range(25):
        sm.create_secret(Name=f"{prefix}/c{n:02d}", SecretString=f"http://h{n}")
    sm.create_secret(Name=f"{prefix}x/other", SecretString="http://other")
    b = sm_backend(moto_server, backends, connections_prefix=prefix)
    found = b.prefetch()
    assert found == {f"c{n:02d}": f"http://h{n}" for n in range(25)}
    assert b.stats()["api_calls"] == 2
    assert len(list(b.list_connections())) == 25


# -- SSM Parameter Store --------------------------------------------------------------------------


def test_ssm_secure_string_json_and_missing(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """SecureString parameters are decrypted; JSON aliases apply; missing ids are None."""
    ssm = ssm_client(moto_server)
    path = f"/{prefix}"
    ssm.put_parameter(Name=f"{path}/db", Value=f"postgres://u:{CANARY}@h/db", Type="SecureString")
    ssm.put_parameter(
        Name=f"{path}/api",
        Value=json.dumps({"conn_type": "http", "username": "svc", "host": "api"}),
        Type="String",
    )
    b = ssm_backend(moto_server, backends, connections_prefix=path)
    assert b.get_connection("db").password == CANARY
    api = b.get_connection("api")
    assert (api.conn_type, api.login, api.host) == ("http", "svc", "api")
    assert b.get_conn_value("missing") is None
    assert b.lookup_keys("db") == [f"{path}/db"]


def test_ssm_default_prefix_and_prefetch_by_path(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """prefetch() uses GetParametersByPath: 12 parameters in 2 calls."""
    ssm = ssm_client(moto_server)
    path = f"/{prefix}"
    for n in range(12):
        ssm.put_parameter(Name=f"{path}/c{n:02d}", Value=f"http://h{n}", Type="SecureString")
    b = ssm_backend(moto_server, backends, connections_prefix=path)
    assert b.prefetch() == {f"c{n:02d}": f"http://h{n}" for n in range(12)}
    assert b.stats()["api_calls"] == 2
    default = AwsSsmBackend(region_name="us-east-1")
    backends.append(default)
    assert default.lookup_keys("x") == ["/airflow/connections/x"]
    assert AwsSecretsManagerBackend(region_name="us-east-1").lookup_keys("x") == [
        "airflow/connections/x"
    ]


# -- access denied ------------------------------------------------------------------------------


def test_access_denied_stops_the_chain(
    moto_factory: Callable[..., MotoServer],
    backends: list[RemoteBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With IAM enforced, a user without secretsmanager:GetSecretValue gets BackendPermissionDenied
    and the chain does not fall through to the env backend holding the same id."""
    server = moto_factory(env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    iam = boto3.client("iam", **server.client_kwargs())
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    iam.put_user_policy(
        UserName="reader",
        PolicyName="ssm-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": "*"}],
            }
        ),
    )
    sm_client(server).create_secret(Name="airflow/connections/db", SecretString=CANARY)
    b = AwsSecretsManagerBackend(
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    backends.append(b)
    with pytest.raises(BackendPermissionDenied) as info:
        b.get_conn_value("db")
    assert "aws_secrets_manager backend refused access" in str(info.value)
    assert CANARY not in str(info.value)
    assert isinstance(info.value.__cause__, ClientError)
    assert b.stats()["api_calls"] == 1  # not retried
    monkeypatch.setenv("AIRFLOW_CONN_DB", "sqlite://")
    chain = SecretsChain([b, EnvBackend()])
    with pytest.raises(BackendPermissionDenied):
        chain.lookup("db")


def test_read_only_user_cannot_write_or_stage(
    moto_factory: Callable[..., MotoServer], backends: list[RemoteBackend]
) -> None:
    """With IAM enforced, a user allowed only to read gets BackendPermissionDenied on writes,
    deletes, staging and variable writes in both services (attempted once, no secret in the
    message), and the stored values stay as they were."""
    from hookline.connection import Connection

    server = moto_factory(env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    iam = boto3.client("iam", **server.client_kwargs())
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "ssm:GetParameter"]
    iam.put_user_policy(
        UserName="reader",
        PolicyName="read-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            }
        ),
    )
    iam.close()
    admin = sm_client(server)
    admin.create_secret(Name="airflow/connections/db", SecretString="sqlite://")
    admin.close()
    credentials = {
        "endpoint_url": server.endpoint_url,
        "region_name": "us-east-1",
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    new = Connection(conn_id="db", conn_type="postgres", host="h", password=CANARY)
    for kind in (AwsSecretsManagerBackend, AwsSsmBackend):
        b = kind(**credentials)
        backends.append(b)
        attempts: list[Callable[[], object]] = [
            lambda b=b: b.set_connection(new),
            lambda b=b: b.delete_connection("db"),
            lambda b=b: b.put_pending(new, token="d" * 32, step="create"),
            lambda b=b: b.set_variable("v", CANARY),
        ]
        for attempt in attempts:
            with pytest.raises(BackendPermissionDenied) as info:
                attempt()
            assert f"{kind.name} backend refused access" in str(info.value)
            assert CANARY not in str(info.value)
    reader = AwsSecretsManagerBackend(**credentials)
    backends.append(reader)
    assert reader.get_conn_value("db") == "sqlite://"


# -- the documented configurations, end to end ---------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "remote_backends.md"


def doc_snippet(name: str) -> str:
    """The TOML block after ``<!-- snippet: name -->`` in docs/remote_backends.md."""
    text = DOCS.read_text()
    start = text.index("```toml\n", text.index(f"<!-- snippet: {name} -->")) + len("```toml\n")
    return text[start : text.index("```", start)]


@pytest.mark.parametrize("name", ["aws_secrets_manager", "aws_ssm"])
def test_documented_configuration_end_to_end(
    name: str,
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    isolated_hookline: Path,
) -> None:
    """The docs' hookline.toml (endpoint and credentials from the environment) resolves a
    connection through hookline.get_connection and the CLI's connections get/list, redacted."""
    conn_id = f"warehouse_{uuid.uuid4().hex[:8]}"
    kwargs = {**moto_server.client_kwargs(), "region_name": "eu-west-1"}
    if name == "aws_secrets_manager":
        boto3.client("secretsmanager", **kwargs).create_secret(
            Name=f"airflow/connections/{conn_id}",
            SecretString=json.dumps({"engine": "postgres", "user": "u", "pass": CANARY}),
        )
    else:
        boto3.client("ssm", **kwargs).put_parameter(
            Name=f"/airflow/connections/{conn_id}",
            Value=json.dumps({"conn_type": "postgres", "account": "u", "password": CANARY}),
            Type="SecureString",
        )
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(doc_snippet(name))
    monkeypatch.setenv(
        f"HOOKLINE_SECRETS__BACKEND__{name.upper()}__ENDPOINT_URL", moto_server.endpoint_url
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        conn = hookline.get_connection(conn_id)
        assert (conn.conn_type, conn.login, conn.password) == ("postgres", "u", CANARY)
        got = CliRunner().invoke(app, ["connections", "get", conn_id])
        assert got.exit_code == 0, got.output
        assert conn_id in got.stdout
        assert CANARY not in got.stdout
        listed = CliRunner().invoke(app, ["connections", "list"])
        assert listed.exit_code == 0, listed.output
        assert conn_id in listed.stdout
        assert CANARY not in listed.stdout
    finally:
        previous = resolver.swap_default_resolver(None)
        close = getattr(previous, "close", None)
        if callable(close):
            close()


# -- secrets in the SDK's own DEBUG logs -----------------------------------------------------------


def test_sdk_debug_logs_of_secret_values_are_masked(
    moto_server: MotoServer, backends: list[RemoteBackend], prefix: str
) -> None:
    """botocore logs each response body at DEBUG *before* hookline parses (and registers) the
    connection inside: the SecretString / parameter value must still not reach a log handler, nor
    a short password under a sensitive key, nor a short token in the URI's query string, nor the
    temporary credentials in STS's XML answer to AssumeRole. No ``masking.install()``: masking is
    on by default from the moment a backend is built (issue 12.7)."""
    sm = sm_client(moto_server)
    secret = {"conn_type": "postgres", "login": "bob", "password": CANARY, "host": "h"}
    sm.create_secret(Name=f"{prefix}/json", SecretString=json.dumps(secret))
    sm.create_secret(Name=f"{prefix}/short", SecretString=json.dumps({**secret, "password": "Pw9"}))
    path = f"/{prefix}"
    ssm_client(moto_server).put_parameter(
        Name=f"{path}/db", Value=f"postgres://u:{CANARY}@h/db?token=Tk7", Type="SecureString"
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        assert masking.registered_count() == 0  # nothing known before the first lookup
        assert (
            sm_backend(moto_server, backends, connections_prefix=prefix)
            .get_connection("json")
            .password
            == CANARY
        )
        masking.reset()  # the short one is never registered; the URI's is checked unregistered
        sm_b = sm_backend(moto_server, backends, connections_prefix=prefix)
        assert sm_b.get_connection("short").password == "Pw9"
        masking.reset()
        ssm_b = ssm_backend(moto_server, backends, connections_prefix=path)
        assert ssm_b.get_connection("db").extra_dejson == {"token": "Tk7"}
        masking.reset()  # STS's XML answer holds temporary credentials, logged before use
        role_b = sm_backend(moto_server, backends, connections_prefix=prefix, role_arn=ROLE_ARN)
        assert role_b.get_connection("short").password == "Pw9"
        temporary = role_b._client._request_signer._credentials.get_frozen_credentials()
        assert len(temporary.secret_key) >= 20
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = stream.getvalue()
    assert "Response body" in text  # botocore did log the bodies
    assert "<SecretAccessKey>***</SecretAccessKey>" in text
    leaks = (CANARY, quote(CANARY, safe=""), "Pw9", "Tk7", temporary.secret_key, temporary.token)
    for leaked in leaks:
        assert leaked not in text


def test_configured_aws_keys_are_registered_for_masking(
    moto_server: MotoServer, backends: list[RemoteBackend]
) -> None:
    """Explicit AWS keys are registered when the backend is built, so an SDK message or traceback
    quoting one is masked; repr never shows them."""
    b = sm_backend(
        moto_server,
        backends,
        aws_secret_access_key=f"{CANARY}-sk",
        aws_session_token=f"{CANARY}-st",
    )
    assert masking.redact(f"signed with {CANARY}-sk and {CANARY}-st") == "signed with *** and ***"
    assert CANARY not in repr(b)


def test_role_assumption_closes_its_sts_client(
    moto_server: MotoServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The STS client used to assume the role is closed once the role's credentials are in hand
    (one more open HTTP pool per login otherwise, until the garbage collector finds it)."""
    import boto3.session

    made: list[Any] = []
    closed: list[Any] = []
    real_client = boto3.session.Session.client

    def spy_client(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        client = real_client(self, service, *args, **kwargs)
        made.append(client)
        real_close = client.close

        def close() -> None:
            closed.append(client)
            real_close()

        client.close = close
        return client

    sm_client(moto_server).create_secret(Name=f"{prefix}/db", SecretString="sqlite://")
    monkeypatch.setattr(boto3.session.Session, "client", spy_client)
    b = AwsSecretsManagerBackend(
        **moto_server.client_kwargs(), connections_prefix=prefix, role_arn=ROLE_ARN
    )
    try:
        assert b.get_conn_value("db") == "sqlite://"
    finally:
        b.close()
    sts = [c for c in made if c.meta.service_model.service_name == "sts"]
    assert len(sts) == 1
    assert sts[0] in closed, "the STS client of the role assumption was left open"


_FORK_PROBE = """
import os, sys, time
from hookline.secrets.aws import AwsSecretsManagerBackend

backend = AwsSecretsManagerBackend(
    endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3],
    aws_secret_access_key=sys.argv[4], connections_prefix=sys.argv[5], deadline_s=3.0,
)
assert backend.get_conn_value("db") == "sqlite://"
pid = os.fork()
if pid == 0:
    started = time.monotonic()
    try:
        print("child", backend.get_conn_value("db"), round(time.monotonic() - started, 2), flush=True)
    except Exception as exc:
        print("child", type(exc).__name__, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", backend.get_conn_value("db"), flush=True)
backend.close()
"""


def test_a_backend_used_before_fork_reads_in_the_child(
    moto_server: MotoServer, prefix: str, tmp_path: Path
) -> None:
    """A forked child (Airflow's task processes, prefork workers) reads through a backend its
    parent used: it builds its own worker pool and client instead of timing out."""
    import subprocess
    import sys

    sm_client(moto_server).create_secret(Name=f"{prefix}/db", SecretString="sqlite://")
    script = tmp_path / "fork_probe.py"
    script.write_text(_FORK_PROBE)
    kwargs = moto_server.client_kwargs()
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            kwargs["endpoint_url"],
            kwargs["region_name"],
            kwargs["aws_access_key_id"],
            kwargs["aws_secret_access_key"],
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    child = next(line for line in lines if line.startswith("child"))
    assert child.split()[:2] == ["child", "sqlite://"], done.stdout
    assert float(child.split()[2]) < 2.0
    assert "parent sqlite://" in lines
