"""The secrets chain: precedence, fall-through, deny, traces and not-found messages, in one table."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hookline import masking
from hookline.config import Settings
from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    ConnectionNotFound,
    ConnectionUnresolved,
    DecryptionError,
    InvalidConnection,
    ListingFailure,
    ListingIncomplete,
)
from hookline.resolve import LookupTrace, SecretsChain, build_chain, not_found_error
from hookline.secrets.base import SecretsBackend
from hookline.secrets.env import EnvBackend
from hookline.secrets.files import LocalFilesBackend
from hookline.secrets.metastore import MetastoreBackend
from hookline.testing import InMemoryBackend

CANARY = "c4n4ry-S3cret!"
CONN_ID = "wh"


def uri(host: str) -> str:
    return f"postgres://alice:c4n4ry-S3cret%21@{host}:5432/app"


class SkippingBackend(InMemoryBackend):
    """Holds the id but declines to be asked for it (like a lookup pattern)."""

    def handles(self, conn_id: str) -> bool:
        return False


def make(spec: str, tmp_path: Path | None = None) -> SecretsBackend:
    """Build one backend from a short spec: ``kind`` or ``kind:host`` (holds CONN_ID at host)."""
    kind, _, host = spec.partition(":")
    if kind in {"files", "metastore"}:
        assert tmp_path is not None
        folder = tmp_path / f"{kind}-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        if kind == "files":
            path = folder / "connections.json"
            path.write_text(json.dumps({CONN_ID: uri(host)} if host else {}), encoding="utf-8")
            return LocalFilesBackend(path)
        metastore = MetastoreBackend(home=folder)
        if host:
            metastore.set_connection(Connection.from_uri(uri(host), conn_id=CONN_ID))
        return metastore
    if kind == "env":
        environ = {"HOOKLINE_CONN_WH": uri(host)} if host else {}
        return EnvBackend(environ=environ)
    if kind == "airflow_env":
        return EnvBackend(environ={"AIRFLOW_CONN_WH": uri(host)})
    if kind.startswith("mem"):
        return InMemoryBackend({CONN_ID: uri(host)} if host else {}, name=kind)
    if kind == "down":
        backend = InMemoryBackend({CONN_ID: uri("down-host")}, name="down")
        backend.fail_with = BackendUnavailable("timed out after 5 s", backend="down")
        return backend
    if kind == "deny":
        backend = InMemoryBackend({CONN_ID: uri("deny-host")}, name="deny")
        backend.fail_with = BackendPermissionDenied("access denied by policy", backend="deny")
        return backend
    if kind == "boom":
        backend = InMemoryBackend({CONN_ID: uri("boom-host")}, name="boom")
        backend.fail_with = RuntimeError("driver bug")
        return backend
    if kind == "skip":
        return SkippingBackend({CONN_ID: uri("skip-host")}, name="skip")
    if kind == "bad":
        bad = json.dumps({"conn_type": "postgres", "password": CANARY, "port": "not-a-port"})
        return InMemoryBackend({CONN_ID: bad}, name="bad")
    raise AssertionError(spec)


@dataclass(frozen=True)
class Row:
    name: str
    chain: list[str]
    expect: str  # a host (hit), or "notfound", "denied", "invalid"
    outcomes: list[str]


TABLE = [
    Row("env wins over memory", ["env:envhost", "mem:memhost"], "envhost", ["hit"]),
    Row("airflow env var is read", ["airflow_env:afhost", "mem:memhost"], "afhost", ["hit"]),
    Row("env absent falls through", ["env", "mem:memhost"], "memhost", ["absent", "hit"]),
    Row("first holder wins", ["mem1:one", "mem2:two"], "one", ["hit"]),
    Row("unavailable falls through", ["down", "mem:memhost"], "memhost", ["unavailable", "hit"]),
    Row("unexpected error falls through", ["boom", "mem:m"], "m", ["unavailable", "hit"]),
    Row("skipped backend is not asked", ["skip", "mem:m"], "m", ["skipped", "hit"]),
    Row("deny stops the chain", ["deny", "mem:m"], "denied", ["denied", "skipped"]),
    Row("deny after absent", ["env", "deny", "mem:m"], "denied", ["absent", "denied", "skipped"]),
    Row("hit before deny never asks it", ["mem:m", "deny"], "m", ["hit"]),
    Row("nobody has it", ["env", "mem"], "notfound", ["absent", "absent"]),
    Row("down and absent", ["down", "env"], "unresolved", ["unavailable", "absent"]),
    Row("invalid value propagates", ["env", "bad", "mem:m"], "invalid", ["absent", "invalid"]),
    Row("invalid after unavailable", ["down", "bad"], "invalid", ["unavailable", "invalid"]),
    Row("unavailable then deny", ["down", "deny"], "denied", ["unavailable", "denied"]),
    Row("files before metastore", ["files:fh", "metastore:mh"], "fh", ["hit"]),
    Row(
        "env, files absent: metastore",
        ["env", "files", "metastore:mh"],
        "mh",
        ["absent"] * 2 + ["hit"],
    ),
    Row("metastore absent falls to memory", ["metastore", "mem:m"], "m", ["absent", "hit"]),
    Row("metastore before memory", ["metastore:mh", "mem:m"], "mh", ["hit"]),
    Row("unavailable then files", ["down", "files:fh"], "fh", ["unavailable", "hit"]),
    Row("deny protects the metastore", ["deny", "metastore:mh"], "denied", ["denied", "skipped"]),
    Row("nobody of all kinds", ["env", "files", "metastore", "mem"], "notfound", ["absent"] * 4),
]


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_precedence_and_fall_through(
    row: Row, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Each chain answers from the first backend holding the id, falls through on absent,
    unavailable and skipped, stops on deny and on an invalid stored value, and never leaks."""
    caplog.set_level(logging.DEBUG)
    chain = SecretsChain([make(spec, tmp_path) for spec in row.chain])
    try:
        check_row(row, chain)
    finally:
        chain.close()
    assert CANARY not in caplog.text


def check_row(row: Row, chain: SecretsChain) -> None:
    trace: LookupTrace
    if row.expect in {"notfound", "unresolved"}:
        expected = ConnectionNotFound if row.expect == "notfound" else ConnectionUnresolved
        with pytest.raises(expected) as not_found:
            chain.get_connection(CONN_ID)
        assert not_found.value.trace is not None
        trace = not_found.value.trace
        text = str(not_found.value)
        assert text.startswith(f"connection {CONN_ID!r}")
        assert CANARY not in text
    elif row.expect == "denied":
        with pytest.raises(BackendPermissionDenied) as denied:
            chain.get_connection(CONN_ID)
        assert denied.value.backend == "deny"
        trace = denied.value.trace  # type: ignore[attr-defined]
        assert CANARY not in str(denied.value)
    elif row.expect == "invalid":
        with pytest.raises(InvalidConnection) as invalid:
            chain.get_connection(CONN_ID)
        assert invalid.value.conn_id == CONN_ID
        assert CANARY not in str(invalid.value)
        trace = invalid.value.trace  # type: ignore[attr-defined]
    else:
        result = chain.lookup(CONN_ID)
        assert result.connection is not None
        assert result.connection.host == row.expect
        assert result.connection.conn_id == CONN_ID
        assert result.connection.password == CANARY
        assert result.source == result.trace.source == chain.backends[len(row.outcomes) - 1].name
        trace = result.trace
        assert chain.get_connection(CONN_ID) == result.connection
    assert [step.outcome for step in trace.steps] == row.outcomes
    asked = chain.backends[: len(row.outcomes)]
    assert [step.backend for step in trace.steps] == [b.name for b in asked]
    for step, backend in zip(trace.steps, asked, strict=True):
        assert step.keys == ([] if step.outcome == "skipped" else backend.lookup_keys(CONN_ID))
    for step in trace.steps:
        assert step.elapsed_s >= 0.0
    assert CANARY not in str(trace)
    assert CANARY not in json.dumps(trace.to_dict())


def test_not_found_message_lists_every_backend_and_key() -> None:
    """str(ConnectionNotFound) names each backend asked and each key it was asked under."""
    chain = SecretsChain([EnvBackend(environ={}), InMemoryBackend(name="store")])
    with pytest.raises(ConnectionNotFound) as exc_info:
        chain.get_connection("Billing-API")
    text = str(exc_info.value)
    assert "connection 'Billing-API' is not defined" in text
    for expected in ("env", "HOOKLINE_CONN_BILLING-API", "AIRFLOW_CONN_BILLING-API", "store"):
        assert expected in text
    assert "store:Billing-API" in text
    assert isinstance(exc_info.value, KeyError)
    assert exc_info.value.conn_id == "Billing-API"


def test_not_found_with_unavailable_backend_says_it_may_exist() -> None:
    """When a backend could not answer, "not found" says the connection may be defined there."""
    down = InMemoryBackend(name="vault")
    down.fail_with = BackendUnavailable("connect timeout after 3.0 s", backend="vault")
    chain = SecretsChain([EnvBackend(environ={}), down])
    with pytest.raises(ConnectionUnresolved) as exc_info:
        chain.get_connection(CONN_ID)
    assert not isinstance(exc_info.value, ConnectionNotFound)  # an outage is not absence
    text = str(exc_info.value)
    assert "vault could not answer, so it may be defined there" in text
    assert "BackendUnavailable: connect timeout after 3.0 s" in text


def test_trace_records_timing_and_renders_a_table() -> None:
    """Each step has elapsed_s measured around the backend call; the total adds them up."""
    slow = InMemoryBackend({CONN_ID: uri("h")}, name="slow")
    slow.delay_s = 0.01
    result = SecretsChain([EnvBackend(environ={}), slow]).lookup(CONN_ID)
    env_step, slow_step = result.trace.steps
    assert slow_step.elapsed_s >= 0.01
    assert env_step.elapsed_s < slow_step.elapsed_s
    assert result.trace.elapsed_s == pytest.approx(env_step.elapsed_s + slow_step.elapsed_s)
    assert result.trace.started_at > 0
    lines = str(result.trace).splitlines()
    assert lines[0].split() == ["#", "backend", "outcome", "time", "keys"]
    assert lines[2].split()[:4] == ["2", "slow", "hit", f"{slow_step.elapsed_s * 1000:.3f}"]
    data = result.trace.to_dict()
    assert data["source"] == "slow"
    assert data["steps"][1] == {
        "backend": "slow",
        "keys": ["slow:wh"],
        "outcome": "hit",
        "elapsed_s": slow_step.elapsed_s,
        "detail": "",
    }


def test_unavailable_detail_is_redacted_and_bounded() -> None:
    """Error text in traces has registered secrets masked and is cut to a bounded length."""
    masking.register(CANARY)
    down = InMemoryBackend(name="down")
    down.fail_with = BackendUnavailable(f"bad auth {CANARY} " + "x" * 1000, backend="down")
    trace = SecretsChain([down]).lookup(CONN_ID).trace
    detail = trace.steps[0].detail
    assert CANARY not in detail
    assert "***" in detail
    assert len(detail) <= 300


def test_detail_masks_secrets_registered_after_the_step() -> None:
    """A backend error quoting the password of the connection a later backend returns is masked
    when the trace is rendered, although the secret was registered only at the hit."""
    down = InMemoryBackend(name="down")
    down.fail_with = BackendUnavailable(f"upstream said {CANARY}", backend="down")
    result = SecretsChain([down, InMemoryBackend({CONN_ID: uri("h")})]).lookup(CONN_ID)
    assert result.connection is not None
    assert CANARY not in str(result.trace)
    assert CANARY not in json.dumps(result.trace.to_dict())
    assert "upstream said ***" in str(result.trace)
    assert CANARY not in repr(result.trace)  # repr of the trace, its steps and the result
    assert CANARY not in repr(result)
    assert "upstream said ***" in repr(result.trace.steps[0])


def test_invalid_conn_id_is_refused_before_asking_backends() -> None:
    """A malformed id raises InvalidConnection and no backend is asked."""
    backend = InMemoryBackend()
    with pytest.raises(InvalidConnection, match="forbidden characters"):
        SecretsChain([backend]).get_connection("bad id!?")
    assert backend.calls == 0


def test_resolved_secrets_are_registered_for_masking() -> None:
    """A hit registers the password, its quoted form, sensitive extras and the whole URI."""
    conn = Connection(
        conn_id=CONN_ID,
        conn_type="http",
        host="api",
        password="p@ss word!",
        extra={"api_key": "k3y-value-123", "nested": {"token": "t0ken-value"}, "timeout": 30},
    )
    SecretsChain([InMemoryBackend({CONN_ID: conn})]).get_connection(CONN_ID)
    text = f"pw p@ss word! q p%40ss%20word%21 k k3y-value-123 t t0ken-value u {conn.get_uri()}"
    redacted = masking.redact(text)
    for secret in ("p@ss word!", "p%40ss%20word%21", "k3y-value-123", "t0ken-value"):
        assert secret not in redacted
    assert conn.get_uri() not in redacted


def test_connection_without_secrets_registers_nothing() -> None:
    """A connection without password or sensitive extras does not mask its URI."""
    SecretsChain([InMemoryBackend({CONN_ID: "http://api.example.com:80"})]).get_connection(CONN_ID)
    assert masking.registered_count() == 0


def test_writes_go_to_first_writable_backend_and_notify() -> None:
    """set/delete use the first writable backend; listeners hear about every write attempt (a
    failed one too: invalidating too much is safe, too little is not)."""
    first, second = InMemoryBackend(name="a"), InMemoryBackend(name="b")
    chain = SecretsChain([EnvBackend(environ={}), first, second])
    heard: list[str | None] = []
    chain.add_write_listener(heard.append)
    conn = Connection.from_uri(uri("h"), conn_id="new")
    chain.set_connection(conn)
    assert chain.writable_backend() is first
    assert first.get_connection("new") == conn
    assert second.get_connection("new") is None
    with pytest.raises(InvalidConnection, match="already exists in a") as exc_info:
        chain.set_connection(conn.replace(host="other"), overwrite=False)
    assert CANARY not in str(exc_info.value)
    assert chain.delete_connection("new") is True
    assert chain.delete_connection("new") is False
    assert heard == ["new"] * 4
    chain.remove_write_listener(heard.append)
    chain.set_connection(conn)
    assert heard == ["new"] * 4


def test_no_overwrite_uses_the_backends_atomic_check(tmp_path: Path) -> None:
    """With a backend that takes overwrite= (the metastore), the check happens in its transaction."""
    metastore = MetastoreBackend(home=tmp_path / "home")
    chain = SecretsChain([EnvBackend(environ={}), metastore])
    try:
        conn = Connection.from_uri(uri("h"), conn_id="dup")
        chain.set_connection(conn, overwrite=False)
        with pytest.raises(InvalidConnection, match="already exists in the metastore") as exc_info:
            chain.set_connection(conn.replace(host="other"), overwrite=False)
        assert CANARY not in str(exc_info.value)
        assert chain.get_connection("dup").host == "h"
    finally:
        chain.close()


def test_write_needs_a_writable_backend_and_a_conn_id() -> None:
    """A read-only chain refuses writes with a ConfigurationError naming the backends."""
    chain = SecretsChain([EnvBackend(environ={})])
    with pytest.raises(
        ConfigurationError, match=r"no writable secrets backend in the chain \(env\)"
    ):
        chain.set_connection(Connection(conn_id="x", host="h"))
    with pytest.raises(InvalidConnection, match="needs a conn_id"):
        SecretsChain([InMemoryBackend()]).set_connection(Connection(host="h"))


def test_list_connections_reports_failing_backends() -> None:
    """Listing walks every backend that can list, with its name; failures are reported, not fatal."""
    env = EnvBackend(environ={"HOOKLINE_CONN_FROM_ENV": "http://e", "AIRFLOW_CONN_BROKEN": "{bad"})
    memory = InMemoryBackend({"a": "http://a", "b": "http://b"})

    class NoList(InMemoryBackend):
        listable = False  # declared: the chain does not call list_connections at all

        def list_connections(self) -> Any:
            raise AssertionError("a backend that is not listable is never asked to list")

    errors: list[tuple[str, Exception]] = []
    found = SecretsChain([env, NoList(name="nolist"), memory]).list_connections(
        on_error=lambda name, exc: errors.append((name, exc))
    )
    # env fails on its first (sorted) variable, so none of its connections are listed
    assert [(name, conn.conn_id) for name, conn in found] == [("memory", "a"), ("memory", "b")]
    assert [name for name, _ in errors] == ["env"]
    assert isinstance(errors[0][1], InvalidConnection)


def test_list_connections_raises_listing_incomplete_when_no_callback() -> None:
    """Without on_error, nothing is left out silently: a failing backend makes the call raise
    ListingIncomplete (after every backend was asked) naming the backend and why."""
    failing = InMemoryBackend(name="failing")

    def broken() -> Any:
        raise BackendUnavailable("503 from server", backend="failing")

    failing.list_connections = broken  # type: ignore[method-assign]
    chain = SecretsChain([failing, InMemoryBackend({"a": "http://a"})])
    with pytest.raises(ListingIncomplete) as info:
        chain.list_connections()
    assert [(f.backend, f.conn_id) for f in info.value.failures] == [("failing", None)]
    assert isinstance(info.value.failures[0].error, BackendUnavailable)
    assert info.value.conn_ids == ()
    assert "failing" in str(info.value)
    assert "503 from server" in str(info.value)


def test_list_connections_passes_row_failures_through() -> None:
    """A backend that lists what it can and reports unreadable rows (ListingIncomplete): without
    on_error the chain re-raises them with the other backends' failures; with on_error the
    readable rows are returned and the callback gets the backend's error with its conn_ids."""
    partial = InMemoryBackend({"ok": "http://ok"}, name="partial")

    def some_rows() -> Any:
        yield Connection(conn_id="ok", conn_type="http", host="ok")
        raise ListingIncomplete(
            [ListingFailure("partial", "bad", DecryptionError("no key", conn_id="bad"))]
        )

    partial.list_connections = some_rows  # type: ignore[method-assign]
    chain = SecretsChain([partial, InMemoryBackend({"a": "http://a"})])
    with pytest.raises(ListingIncomplete) as info:
        chain.list_connections()
    assert info.value.conn_ids == ("bad",)
    assert "'bad'" in str(info.value)
    errors: list[tuple[str, Exception]] = []
    found = chain.list_connections(on_error=lambda name, exc: errors.append((name, exc)))
    assert [conn.conn_id for _, conn in found] == ["ok", "a"]
    assert [name for name, _ in errors] == ["partial"]
    error = errors[0][1]
    assert isinstance(error, ListingIncomplete)
    assert error.conn_ids == ("bad",)


def test_chain_needs_backends_and_repr_names_them() -> None:
    """An empty chain is a configuration error; repr lists backend names only."""
    with pytest.raises(ConfigurationError, match="at least one backend"):
        SecretsChain([])
    assert repr(SecretsChain([EnvBackend(environ={}), InMemoryBackend()])) == (
        "SecretsChain([env, memory])"
    )


def test_not_found_error_keeps_trace() -> None:
    """not_found_error builds a KeyError subclass whose trace is the one given."""
    trace = LookupTrace("x")
    error = not_found_error(trace)
    assert error.trace is trace
    assert error.conn_id == "x"


def test_build_chain_from_settings(tmp_path: Path) -> None:
    """build_chain instantiates backends by name with their keyword tables."""
    settings = Settings(
        home=tmp_path,
        backends=("env",),
        backend_kwargs={"env": {"prefixes": ["MY_CONN_"]}},
    )
    chain = build_chain(settings)
    (backend,) = chain.backends
    assert isinstance(backend, EnvBackend)
    assert backend.prefixes == ("MY_CONN_",)


def test_build_chain_errors_name_the_backend(tmp_path: Path) -> None:
    """Unknown names and rejected keyword arguments are ConfigurationErrors that say which."""
    with pytest.raises(
        ConfigurationError,
        match=r"unknown secrets backend 'nope' in \[secrets\] backends \(default\); known backends:",
    ):
        build_chain(Settings(home=tmp_path, backends=("nope",)))
    bad = Settings(
        home=tmp_path, backends=("env",), backend_kwargs={"env": {"token": CANARY, "bogus": 1}}
    )
    with pytest.raises(ConfigurationError, match=r"'env' rejected its settings") as exc_info:
        build_chain(bad)
    assert "bogus" in str(exc_info.value)
    assert CANARY not in str(exc_info.value)


def test_build_chain_names_anonymous_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered backend class without its own name takes the configured name."""
    from hookline import registry

    class Anonymous(InMemoryBackend):
        def __init__(self) -> None:
            super().__init__()
            del self.name

    monkeypatch.setitem(registry._extra_backends, "custom", Anonymous)
    chain = build_chain(Settings(home=tmp_path, backends=("custom",)))
    assert chain.backends[0].name == "custom"
    assert "custom" in registry.backend_names()


def test_env_prefixes_from_environment_text(tmp_path: Path) -> None:
    """HOOKLINE_SECRETS__BACKEND__ENV__PREFIXES="A_,B_" configures the env backend's prefixes."""
    from hookline.config import load_settings

    settings = load_settings(
        {
            "HOOKLINE_HOME": str(tmp_path),
            "HOOKLINE_SECRETS__BACKENDS": "env",
            "HOOKLINE_SECRETS__BACKEND__ENV__PREFIXES": "MY_CONN_, OTHER_",
        }
    )
    (backend,) = build_chain(settings).backends
    assert isinstance(backend, EnvBackend)
    assert backend.prefixes == ("MY_CONN_", "OTHER_")
    assert backend.lookup_keys("x") == ["MY_CONN_X", "OTHER_X"]


def test_configured_backend_credentials_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials in a backend's keyword table (a Vault token, AWS keys, nested auth tables) are
    registered when the chain is built, so an SDK error quoting one (requests echoes a bad header
    value) is masked in the trace and in the printed traceback of the chained SDK error."""
    import traceback

    from hookline import registry

    class TokenBackend(SecretsBackend):
        name = "tokened"

        def __init__(self, token: str, auth: dict[str, Any]) -> None:
            self.token = token

        def get_conn_value(self, conn_id: str) -> str | None:
            try:
                raise ValueError(f"Invalid header value {self.token!r}")
            except ValueError as exc:
                raise BackendUnavailable("SDK call failed", backend=self.name) from exc

    monkeypatch.setitem(registry._extra_backends, "tokened", TokenBackend)
    settings = Settings(
        home=tmp_path,
        backends=("tokened",),
        backend_kwargs={"tokened": {"token": CANARY, "auth": {"secret_id": CANARY + "2"}}},
    )
    chain = build_chain(settings)
    assert masking.redact(f"{CANARY} {CANARY}2") == "*** ***"
    assert CANARY not in str(chain.lookup("x").trace)
    with pytest.raises(BackendUnavailable) as info:
        chain.backends[0].get_conn_value("x")
    printed = masking.redact("".join(traceback.format_exception(info.value)))
    assert "Invalid header value '***'" in printed
    assert CANARY not in printed
