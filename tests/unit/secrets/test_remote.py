"""Unit tests of the remote-backend base: lookup patterns, error mapping, retries, deadline, counters.

A small in-memory subclass stands in for an SDK: it raises scripted errors so every branch of the
error mapping runs without a network. The real stores are exercised in tests/integration.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    MissingDependency,
)
from hookline.secrets.remote import ErrorKind, RemoteBackend, Verdict, standardize_secret_keys

CANARY = "c4n4ry-S3cret!"


class SdkError(Exception):
    """What a fake SDK raises; ``kind`` says how the fake classifier maps it."""

    def __init__(self, kind: ErrorKind, message: str = f"server said {CANARY}") -> None:
        super().__init__(message)
        self.kind = kind


class FakeBackend(RemoteBackend):
    """A remote backend over a dict, with a script of errors to raise before answering."""

    name = "fake"

    def __init__(self, store: dict[str, str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("connections_prefix", "conns")
        kwargs.setdefault("backoff_initial_s", 0.0)
        kwargs.setdefault("backoff_max_s", 0.0)
        super().__init__(**kwargs)
        self.store = dict(store or {})
        self.script: list[Callable[[], None]] = []
        self.clients_created = 0

    def _create_client(self) -> Any:
        self.clients_created += 1
        return object()

    def _read(self, client: Any, key: str) -> str | None:
        def call() -> str | None:
            if self.script:
                self.script.pop(0)()
            if key not in self.store:
                raise SdkError(ErrorKind.ABSENT, "not found")
            return self.store[key]

        return self._api(call)

    def _list(self, client: Any) -> dict[str, str]:
        items = self._api(lambda: dict(self.store))
        found = {}
        for key, value in items.items():
            conn_id = self.conn_id_for_key(key)
            if conn_id is not None:
                found[conn_id] = value
        return found

    def _classify(self, exc: BaseException) -> Verdict:
        if isinstance(exc, SdkError):
            return Verdict(exc.kind, f"SdkError/{exc.kind.value}")
        return super()._classify(exc)


def raising(kind: ErrorKind) -> Callable[[], None]:
    def step() -> None:
        raise SdkError(kind)

    return step


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    b = FakeBackend({"conns/db": "postgres://u:p@h/db", "other/x": "http://x"})
    yield b
    b.close()


def test_hit_absent_and_counters(backend: FakeBackend) -> None:
    """A stored id returns its text; a missing one returns None and is not counted as an error."""
    assert backend.get_conn_value("db") == "postgres://u:p@h/db"
    assert backend.get_conn_value("nope") is None
    stats = backend.stats()
    assert stats["api_calls"] == 2
    assert stats["lookups"] == 2
    assert stats["absent"] == 1
    assert stats["errors"] == 0
    assert stats["latency_total_s"] > 0


def test_lookup_pattern_mismatch_costs_no_call() -> None:
    """Ids that do not match connections_lookup_pattern are skipped without an API call."""
    b = FakeBackend({"conns/prod_db": "sqlite://"}, connections_lookup_pattern="prod_.*")
    assert b.handles("PROD_db")  # case-insensitive, like Airflow
    assert not b.handles("dev_db")
    assert b.get_conn_value("dev_db") is None
    assert b.lookup_keys("dev_db") == []
    assert b.get_conn_value("prod_db") == "sqlite://"
    assert b.stats()["api_calls"] == 1
    assert b.stats()["skipped"] == 1


def test_prefix_none_switches_lookups_off() -> None:
    """connections_prefix=None means the backend never looks up connections."""
    b = FakeBackend({"db": "sqlite://"}, connections_prefix=None)
    assert not b.handles("db")
    assert b.get_conn_value("db") is None
    assert b.prefetch() == {}
    assert b.stats()["api_calls"] == 0


def test_build_path_and_inverse() -> None:
    """Keys are prefix + sep + id (just the id for an empty prefix), and map back to ids."""
    b = FakeBackend(connections_prefix="airflow/connections", sep="/")
    assert b.build_path("db") == "airflow/connections/db"
    assert b.lookup_keys("db") == ["airflow/connections/db"]
    assert b.conn_id_for_key("airflow/connections/db") == "db"
    assert b.conn_id_for_key("airflow/variables/db") is None
    empty = FakeBackend(connections_prefix="")
    assert empty.build_path("db") == "db"
    assert empty.conn_id_for_key("db") == "db"


def test_retryable_errors_are_retried_then_answer(backend: FakeBackend) -> None:
    """Throttling or 5xx answers are retried with backoff; the lookup then succeeds."""
    backend.script = [raising(ErrorKind.RETRY), raising(ErrorKind.RETRY)]
    assert backend.get_conn_value("db") == "postgres://u:p@h/db"
    stats = backend.stats()
    assert stats["api_calls"] == 3
    assert stats["retries"] == 2
    assert stats["errors"] == 2


def test_retries_exhausted_raise_unavailable_without_secrets() -> None:
    """After max_attempts retryable failures the lookup raises BackendUnavailable, SDK error as cause."""
    b = FakeBackend({"conns/db": CANARY}, max_attempts=3)
    b.script = [raising(ErrorKind.RETRY)] * 3
    with pytest.raises(BackendUnavailable) as info:
        b.get_conn_value("db")
    message = str(info.value)
    assert "fake backend unavailable" in message
    assert "'conns/db'" in message
    assert "3 attempt(s)" in message
    assert "max_attempts=3" in message
    assert "deadline_s=10" in message
    assert CANARY not in message
    assert info.value.backend == "fake"
    assert isinstance(info.value.__cause__, SdkError)


def test_permission_denied_is_not_retried() -> None:
    """Access denied raises BackendPermissionDenied after one call; the SDK error is the cause."""
    b = FakeBackend({"conns/db": CANARY})
    b.script = [raising(ErrorKind.DENIED)]
    with pytest.raises(BackendPermissionDenied) as info:
        b.get_conn_value("db")
    assert "refused access" in str(info.value)
    assert CANARY not in str(info.value)
    assert isinstance(info.value, PermissionError)
    assert isinstance(info.value.__cause__, SdkError)
    assert b.stats()["api_calls"] == 1


def test_expired_credentials_trigger_one_new_login() -> None:
    """A REAUTH verdict drops the client and retries once with a fresh one."""
    b = FakeBackend({"conns/db": "sqlite://"})
    b.script = [raising(ErrorKind.REAUTH)]
    assert b.get_conn_value("db") == "sqlite://"
    assert b.clients_created == 2


def test_reauth_twice_is_denied() -> None:
    """When the new login is refused too, the lookup raises BackendPermissionDenied."""
    b = FakeBackend({"conns/db": "sqlite://"})
    b.script = [raising(ErrorKind.REAUTH), raising(ErrorKind.REAUTH)]
    with pytest.raises(BackendPermissionDenied):
        b.get_conn_value("db")
    assert b.clients_created == 2


def test_other_errors_fail_at_once() -> None:
    """An unclassified error raises BackendUnavailable without retrying; its text is not shown."""
    b = FakeBackend({"conns/db": "sqlite://"})

    def boom() -> None:
        raise ValueError(f"bad request echoing {CANARY}")

    b.script = [boom]
    with pytest.raises(BackendUnavailable) as info:
        b.get_conn_value("db")
    assert "ValueError" in str(info.value)
    assert CANARY not in str(info.value)
    assert b.stats()["api_calls"] == 1
    assert b.stats()["retries"] == 0


def test_network_builtin_errors_are_retryable() -> None:
    """Builtin ConnectionError/TimeoutError are retried by the default classifier."""
    b = FakeBackend({"conns/db": "sqlite://"})

    def refused() -> None:
        raise ConnectionRefusedError("refused")

    b.script = [refused]
    assert b.get_conn_value("db") == "sqlite://"
    assert b.stats()["retries"] == 1


def test_deadline_holds_when_the_store_never_answers() -> None:
    """A call that hangs is abandoned at the deadline with BackendUnavailable."""
    release = threading.Event()
    b = FakeBackend({"conns/db": "sqlite://"}, deadline_s=0.3)

    def hang() -> None:
        release.wait(30)

    b.script = [hang]
    try:
        with pytest.raises(BackendUnavailable) as info:
            b.get_conn_value("db")
        assert "no answer before the deadline" in str(info.value)
        assert "deadline_s=0.3" in str(info.value)
        assert b.stats()["timeouts"] == 1
    finally:
        release.set()
        b.close()


def test_client_created_once_across_threads() -> None:
    """Many concurrent lookups share one lazily created client."""
    b = FakeBackend({"conns/db": "sqlite://"})
    results: list[str | None] = []

    def work() -> None:
        for _ in range(20):
            results.append(b.get_conn_value("db"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["sqlite://"] * 160
    assert b.clients_created == 1
    assert b.stats()["api_calls"] == 160


def test_close_then_lookup_builds_a_new_client(backend: FakeBackend) -> None:
    """close() releases the client and pool; the backend still works afterwards."""
    backend.get_conn_value("db")
    backend.close()
    assert backend.get_conn_value("db") == "postgres://u:p@h/db"
    assert backend.clients_created == 2


def test_prefetch_lists_the_prefix_and_honours_the_pattern() -> None:
    """prefetch() returns {conn_id: text} for the prefix; list_connections() builds Connections."""
    b = FakeBackend(
        {"conns/a_db": "sqlite://", "conns/b_db": "http://h", "x/a_z": "http://z"},
        connections_lookup_pattern="a_.*",
    )
    assert b.prefetch() == {"a_db": "sqlite://"}
    conns = list(b.list_connections())
    assert conns == [Connection.from_uri("sqlite://", conn_id="a_db")]


def test_reset_stats(backend: FakeBackend) -> None:
    """reset_stats() zeroes every counter."""
    backend.get_conn_value("db")
    backend.reset_stats()
    assert set(backend.stats().values()) == {0}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"deadline_s": 0}, "deadline_s"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"backoff_initial_s": -1}, "backoff"),
        ({"connections_lookup_pattern": "("}, "not a valid regex"),
    ],
)
def test_invalid_settings_raise_configuration_error(kwargs: dict[str, Any], needle: str) -> None:
    """Bad limits or a bad regex are rejected when the backend is built."""
    with pytest.raises(ConfigurationError, match=needle):
        FakeBackend(**kwargs)


def test_standardize_secret_keys_uses_airflow_aliases() -> None:
    """user/username, pass, database, engine, server map to connection fields; unknown keys drop."""
    data = {
        "username": "alice",
        "pass": CANARY,
        "database": "app",
        "engine": "postgres",
        "server": "db.example",
        "port": 5432,
        "comment": "dropped",
    }
    assert standardize_secret_keys(data) == {
        "login": "alice",
        "password": CANARY,
        "schema": "app",
        "conn_type": "postgres",
        "host": "db.example",
        "port": 5432,
    }
    assert standardize_secret_keys({"account": "bob"}, {"login": ["account"]}) == {"login": "bob"}


# -- optional dependencies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "factory", "extra"),
    [
        ("hvac", "vault", "vault"),
        ("boto3", "aws", "aws"),
        ("google.cloud.secretmanager", "gcp", "gcp"),
    ],
)
def test_missing_sdk_raises_missing_dependency(
    monkeypatch: pytest.MonkeyPatch, module: str, factory: str, extra: str
) -> None:
    """Without the SDK, building the backend raises MissingDependency naming the extra."""
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependency) as info:
        _build(factory)
    assert f"hookline[{extra}]" in str(info.value)
    assert isinstance(info.value, ImportError)


def _build(factory: str) -> Any:
    if factory == "vault":
        from hookline.secrets.vault import VaultBackend

        return VaultBackend(url="http://127.0.0.1:1", token=CANARY)
    if factory == "aws":
        from hookline.secrets.aws import AwsSecretsManagerBackend

        return AwsSecretsManagerBackend(region_name="us-east-1")
    from hookline.secrets.gcp import GcpSecretManagerBackend

    return GcpSecretManagerBackend(project_id="p")


# -- documented configurations ------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[3] / "docs" / "remote_backends.md"


def doc_snippet(name: str) -> str:
    """The TOML block after ``<!-- snippet: name -->`` in docs/remote_backends.md."""
    text = DOCS.read_text()
    marker = f"<!-- snippet: {name} -->"
    start = text.index("```toml\n", text.index(marker)) + len("```toml\n")
    return text[start : text.index("```", start)]


@pytest.mark.parametrize(
    ("name", "cls_path"),
    [
        ("vault", "hookline.secrets.vault.VaultBackend"),
        ("aws_secrets_manager", "hookline.secrets.aws.AwsSecretsManagerBackend"),
        ("aws_ssm", "hookline.secrets.aws.AwsSsmBackend"),
        ("gcp_secret_manager", "hookline.secrets.gcp.GcpSecretManagerBackend"),
    ],
)
def test_documented_configuration_builds_the_chain(
    name: str, cls_path: str, isolated_hookline: Path
) -> None:
    """Each documented hookline.toml snippet loads and builds env -> backend -> metastore offline."""
    from hookline.config import load_settings
    from hookline.resolve import build_chain

    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(doc_snippet(name))
    settings = load_settings()
    assert settings.backends == ("env", name, "metastore")
    chain = build_chain(settings)
    try:
        backend = chain.backends[1]
        module, _, cls_name = cls_path.rpartition(".")
        assert type(backend).__name__ == cls_name
        assert type(backend).__module__ == module
        assert backend.name == name
        assert isinstance(backend, RemoteBackend)
        assert backend.deadline_s == 5
        assert backend.stats()["api_calls"] == 0  # nothing was called while building
    finally:
        chain.close()


# -- each SDK's errors, classified ----------------------------------------------------------------


def test_aws_error_classification() -> None:
    """botocore errors: not found is absent, AccessDenied denied, throttling/5xx/network retried."""
    from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

    from hookline.secrets.aws import AwsSecretsManagerBackend, AwsSsmBackend

    sm = AwsSecretsManagerBackend(region_name="us-east-1")
    ssm = AwsSsmBackend(region_name="us-east-1")

    def client_error(code: str, status: int) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": code, "Message": CANARY},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "GetSecretValue",
        )

    cases = [
        (sm, client_error("ResourceNotFoundException", 400), ErrorKind.ABSENT),
        (ssm, client_error("ParameterNotFound", 400), ErrorKind.ABSENT),
        (sm, client_error("AccessDeniedException", 400), ErrorKind.DENIED),
        (sm, client_error("ExpiredTokenException", 400), ErrorKind.REAUTH),
        (sm, client_error("ThrottlingException", 400), ErrorKind.RETRY),
        (sm, client_error("InternalServiceError", 500), ErrorKind.RETRY),
        (sm, client_error("SomethingElse", 400), ErrorKind.FAIL),
        (sm, EndpointConnectionError(endpoint_url="http://x"), ErrorKind.RETRY),
        (sm, SSLError(endpoint_url="https://x", error="bad cert"), ErrorKind.FAIL),
    ]
    for backend, exc, kind in cases:
        verdict = backend._classify(exc)
        assert verdict.kind is kind, (exc, verdict)
        assert CANARY not in verdict.reason


def test_gcp_error_classification() -> None:
    """google.api_core errors: NotFound absent, PermissionDenied denied, 5xx/429 retried."""
    from google.api_core import exceptions

    from hookline.secrets.gcp import GcpSecretManagerBackend

    gexc: Any = exceptions  # its constructors are untyped

    b = GcpSecretManagerBackend(project_id="p", anonymous=True, transport="rest")
    cases = [
        (gexc.NotFound(CANARY), ErrorKind.ABSENT),
        (gexc.PermissionDenied(CANARY), ErrorKind.DENIED),
        (gexc.Unauthenticated(CANARY), ErrorKind.REAUTH),
        (gexc.TooManyRequests(CANARY), ErrorKind.RETRY),
        (gexc.ServiceUnavailable(CANARY), ErrorKind.RETRY),
        (gexc.InternalServerError(CANARY), ErrorKind.RETRY),
        (gexc.FailedPrecondition(CANARY), ErrorKind.FAIL),
    ]
    for exc, kind in cases:
        verdict = b._classify(exc)
        assert verdict.kind is kind, (exc, verdict)
        assert CANARY not in verdict.reason


def test_vault_error_classification() -> None:
    """hvac errors: InvalidPath absent; Forbidden denied for a static token, re-login for AppRole."""
    import hvac.exceptions as hexc
    import requests

    from hookline.secrets.vault import VaultBackend

    token = VaultBackend(url="http://127.0.0.1:1", token=CANARY)
    approle = VaultBackend(
        url="http://127.0.0.1:1", auth_type="approle", role_id="r", secret_id=CANARY
    )
    assert token._classify(hexc.InvalidPath(CANARY)).kind is ErrorKind.ABSENT
    assert token._classify(hexc.Forbidden(CANARY)).kind is ErrorKind.DENIED
    assert approle._classify(hexc.Forbidden(CANARY)).kind is ErrorKind.REAUTH
    assert token._classify(hexc.RateLimitExceeded(CANARY)).kind is ErrorKind.RETRY
    assert token._classify(hexc.VaultDown(CANARY)).kind is ErrorKind.RETRY
    assert token._classify(requests.exceptions.ConnectionError(CANARY)).kind is ErrorKind.RETRY
    assert token._classify(requests.exceptions.SSLError(CANARY)).kind is ErrorKind.FAIL
    assert token._classify(hexc.InvalidRequest(CANARY)).kind is ErrorKind.FAIL
    assert CANARY not in repr(token)
    assert CANARY not in repr(approle)


_FORK_SCRIPT = """
import os, sys, time
sys.path.insert(0, {root!r})
from tests.unit.secrets.test_remote import FakeBackend

backend = FakeBackend({{"conns/db": "sqlite://"}}, deadline_s=2.0)
assert backend.get_conn_value("db") == "sqlite://"  # the worker pool has a thread now
client = backend._client
pid = os.fork()
if pid == 0:
    started = time.monotonic()
    try:
        value = backend.get_conn_value("db")
        fresh = backend._client is not client
        print("child", value, fresh, round(time.monotonic() - started, 2), flush=True)
    except Exception as exc:
        print("child", type(exc).__name__, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", backend.get_conn_value("db"), backend._client is client, flush=True)
backend.close()
"""


def test_a_backend_used_before_fork_works_in_the_child(tmp_path: Path) -> None:
    """The worker pool's threads (and the SDK client's sockets) do not survive a fork: a child
    (Airflow's forked task processes, prefork workers) gets its own pool and client instead of
    waiting for threads that do not exist until every lookup times out."""
    import subprocess

    root = str(Path(__file__).resolve().parents[3])
    script = tmp_path / "fork_probe.py"
    script.write_text(_FORK_SCRIPT.format(root=root))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    child = next(line for line in lines if line.startswith("child"))
    assert child.split()[:3] == ["child", "sqlite://", "True"], done.stdout
    assert float(child.split()[3]) < 1.0
    assert "parent sqlite:// True" in lines, done.stdout
