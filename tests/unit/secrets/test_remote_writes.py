"""Unit tests of the writes, staging and variables layer of the remote backends.

An in-memory subclass of :class:`WritableRemoteBackend` stands in for a store; it raises scripted
SDK errors so the write error mapping (no retry for create-only writes, "not found" never passing
for success) runs without a network. The real stores are exercised in
tests/integration/test_remote_contract.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    InvalidConnection,
    InvalidVariable,
    RotationError,
)
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.secrets.remote import ErrorKind, Verdict
from hookline.secrets.remote_writes import WritableRemoteBackend

CANARY = "c4n4ry-S3cret!"
TOKEN = "a" * 32


class SdkError(Exception):
    def __init__(self, kind: ErrorKind) -> None:
        super().__init__(f"server said {CANARY}")
        self.kind = kind


class MemoryBackend(WritableRemoteBackend):
    """Documents in a dict; ``fail`` holds SDK errors raised by the next calls."""

    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("connections_prefix", "conns")
        kwargs.setdefault("variables_prefix", "vars")
        kwargs.setdefault("backoff_initial_s", 0.0)
        kwargs.setdefault("backoff_max_s", 0.0)
        super().__init__(**kwargs)
        self.docs: dict[str, str] = {}
        self.fail: list[ErrorKind] = []
        self.calls = 0

    def _create_client(self) -> Any:
        return object()

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.fail:
            raise SdkError(self.fail.pop(0))

    def _read(self, client: Any, key: str) -> str | None:
        return self._get_doc(client, key)

    def _list(self, client: Any) -> dict[str, str]:
        head = f"{self.connections_prefix}{self.sep}"
        return {k[len(head) :]: v for k, v in self.docs.items() if k.startswith(head)}

    def _get_doc(self, client: Any, key: str) -> str | None:
        self._maybe_fail()
        if key not in self.docs:
            raise SdkError(ErrorKind.ABSENT)
        return self.docs[key]

    def _put_doc(self, client: Any, key: str, text: str, *, overwrite: bool) -> bool:
        self._maybe_fail()
        if not overwrite and key in self.docs:
            return False
        self.docs[key] = text
        return True

    def _delete_doc(self, client: Any, key: str) -> bool:
        self._maybe_fail()
        return self.docs.pop(key, None) is not None

    def _classify(self, exc: BaseException) -> Verdict:
        if isinstance(exc, SdkError):
            return Verdict(exc.kind, exc.kind.value)
        return super()._classify(exc)


def conn(password: str = CANARY, conn_id: str = "db") -> Connection:
    return Connection(conn_id=conn_id, conn_type="postgres", host="h", password=password)


def test_write_goes_to_the_key_lookups_read() -> None:
    backend = MemoryBackend(sep="/")
    backend.set_connection(conn())
    assert json.loads(backend.docs["conns/db"])["password"] == CANARY
    assert backend.get_connection("db") == conn()
    assert [c.conn_id for c in backend.list_connections()] == ["db"]


def test_create_only_write_is_not_retried_and_absent_is_not_success() -> None:
    """A retryable error on a create-only write is reported, not retried (the first attempt may
    have landed); a "not found" verdict on a write is an error, never a silent success."""
    backend = MemoryBackend()
    backend.fail = [ErrorKind.RETRY]
    with pytest.raises(BackendUnavailable, match="not retried") as info:
        backend.set_connection(conn(), overwrite=False)
    assert CANARY not in str(info.value)
    assert backend.calls == 1
    backend.fail = [ErrorKind.RETRY]
    backend.set_connection(conn(), overwrite=True)  # idempotent: retried
    assert backend.calls == 3
    backend.fail = [ErrorKind.ABSENT]
    with pytest.raises(BackendUnavailable):
        backend.set_connection(conn(), overwrite=True)


def test_denied_write_is_permission_denied_without_the_secret() -> None:
    backend = MemoryBackend()
    backend.fail = [ErrorKind.DENIED]
    with pytest.raises(BackendPermissionDenied, match="memory backend refused access") as info:
        backend.set_connection(conn())
    assert CANARY not in str(info.value)
    assert "conns/db" in str(info.value)


def test_ids_that_lookups_never_read_are_refused() -> None:
    backend = MemoryBackend(connections_lookup_pattern="wh.*")
    with pytest.raises(InvalidConnection, match="lookups would never read it"):
        backend.set_connection(conn(conn_id="other"))
    with pytest.raises(InvalidConnection, match="cannot be looked up"):
        backend.set_connection(conn(conn_id="wh/../admin"))
    with pytest.raises(InvalidConnection):
        backend.set_connection(Connection(conn_type="http"))
    off = MemoryBackend(connections_prefix=None)
    with pytest.raises(ConfigurationError, match="connection lookups are off"):
        off.set_connection(conn())
    assert backend.calls == 0
    assert off.calls == 0


def test_pending_record_lives_outside_the_prefix() -> None:
    backend = MemoryBackend(sep="/")
    backend.set_connection(conn("old"))
    backend.put_pending(conn(), token=TOKEN, step="create")
    record = json.loads(backend.docs["conns__pending/db"])
    assert (record["token"], record["step"], record["state"]) == (TOKEN, "create", "pending")
    assert backend.prefetch() == {"db": conn("old").to_json()}
    backend.promote_pending("db", TOKEN)
    marker = json.loads(backend.docs["conns__pending/db"])
    assert marker["state"] == "promoted"
    assert "connection" not in marker  # no secret left behind
    assert backend.get_connection("db") == conn()


def test_bad_step_token_conflict_and_foreign_record() -> None:
    backend = MemoryBackend()
    with pytest.raises(RotationError, match="unknown rotation step"):
        backend.put_pending(conn(), token=TOKEN, step="finish")
    backend.put_pending(conn(), token=TOKEN, step="create")
    with pytest.raises(RotationError) as conflict:
        backend.put_pending(conn(), token="b" * 32, step="create")
    assert conflict.value.step == "create"
    backend.docs["conns__pending/db"] = "not json " + CANARY
    with pytest.raises(RotationError, match="not a hookline pending record") as foreign:
        backend.get_pending("db")
    assert CANARY not in str(foreign.value)


def test_a_new_rotation_may_follow_a_promoted_one() -> None:
    backend = MemoryBackend()
    backend.set_connection(conn("v1"))
    backend.put_pending(conn("v2"), token=TOKEN, step="test")
    backend.promote_pending("db", TOKEN)
    backend.put_pending(conn("v3"), token="c" * 32, step="create")
    pending = backend.get_pending("db")
    assert pending is not None
    assert pending.connection.password == "v3"


def test_variable_keys_and_shapes() -> None:
    backend = MemoryBackend(variables_lookup_pattern="app_.*")
    backend.set_variable("app_greeting", CANARY)
    assert backend.docs["vars/app_greeting"] == CANARY
    assert backend.get_variable("app_greeting") == CANARY
    assert backend.get_variable("other") is None
    assert backend.stats()["skipped"] == 1
    for bad in ("", "a\x00b", "app_/../x", "app_\\x"):
        with pytest.raises(InvalidVariable):
            backend.get_variable(bad)
    with pytest.raises(InvalidVariable, match="lookups would never read it"):
        backend.set_variable("other", "v")
    with pytest.raises(InvalidVariable, match="already exists") as exists:
        backend.set_variable("app_greeting", CANARY, overwrite=False)
    assert CANARY not in str(exists.value)
    assert backend.delete_variable("app_greeting") is True
    assert backend.delete_variable("app_greeting") is False
    with pytest.raises(ConfigurationError):
        MemoryBackend(variables_lookup_pattern="(")


def test_chain_writes_to_remotes_only_when_named() -> None:
    """A writable remote before the metastore-like default target is not the default; naming it
    picks it; naming a read-only or unknown backend is a ConfigurationError."""

    class DefaultTarget(MemoryBackend):
        name = "metastore"
        writes_by_default = True

    remote, default = MemoryBackend(), DefaultTarget()
    chain = SecretsChain([EnvBackend(environ={}), remote, default])
    assert chain.writable_backend() is default
    assert chain.writable_backend("memory") is remote
    chain.set_connection(conn(), backend="memory")
    assert "conns/db" in remote.docs
    assert not default.docs
    assert chain.delete_connection("db", backend="memory") is True
    with pytest.raises(ConfigurationError, match="read-only"):
        chain.writable_backend("env")
    with pytest.raises(ConfigurationError, match="no secrets backend named"):
        chain.writable_backend("nope")
    with pytest.raises(ConfigurationError, match="no writable secrets backend"):
        SecretsChain([remote]).writable_backend()


def test_chain_variables_through_a_remote() -> None:
    """The chain's variable lookup asks the remote under its key (trace) and skips keys the
    pattern rules out; variable writes do not default to the remote."""
    remote = MemoryBackend(variables_lookup_pattern="app_.*")
    remote.docs["vars/app_x"] = CANARY
    chain = SecretsChain([remote])
    result = chain.lookup_variable("app_x")
    assert result.value == CANARY
    assert result.trace.steps[0].keys == ["vars/app_x"]
    skipped = chain.lookup_variable("other")
    assert skipped.trace.steps[0].outcome == "skipped"
    with pytest.raises(ConfigurationError):
        chain.variable_writable_backend()
