"""``rotate_keys`` re-encrypts every Fernet token of the metastore: connections, the pending
versions of credential rotations in progress, and variables, so retiring the old key never strands
a rotation or a variable."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import Connection
from hookline.exceptions import DecryptionError
from hookline.resolve.chain import SecretsChain
from hookline.rotation import Rotator, Strategy, register_strategy, strategies
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key
from hookline.secrets.metastore.paths import DB_FILE_NAME

CANARY = "Canary0ldKeyRotPassword"
PENDING = "Canary1PendingKeyRotPassword"
VARIABLE = "Canary2VariableKeyRotValue"
OLD, NEW = generate_key(), generate_key()


class Interrupted(BaseException):
    """Stands for a SIGKILL: nothing in the rotation catches it, so no rollback runs."""


class KeyFake(Strategy):
    """A server that accepts whatever ``set`` gave it; ``test`` can be made to die."""

    name = "keyfake"
    accepted: dict[str, str] = {}
    die_in_test = False

    def set(self, current: Connection, pending: Connection) -> None:
        KeyFake.accepted[str(pending.login)] = str(pending.password)

    def test(self, pending: Connection) -> None:
        if KeyFake.die_in_test:
            raise Interrupted
        assert KeyFake.accepted[str(pending.login)] == pending.password

    def revert(self, current: Connection, pending: Connection) -> None:
        KeyFake.accepted[str(current.login)] = str(current.password)


@pytest.fixture(autouse=True)
def _strategy() -> Iterator[None]:
    register_strategy("keyfake", KeyFake)
    KeyFake.accepted = {"app": CANARY}
    KeyFake.die_in_test = False
    yield
    strategies._registered.pop("keyfake", None)


def conn(password: str = CANARY) -> Connection:
    return Connection(
        conn_id="app", conn_type="postgres", host="db", login="app", password=password,
        port=5432, extra={"rotation_strategy": "keyfake"},
    )  # fmt: skip


def store(home: Path, *keys: str) -> MetastoreBackend:
    return MetastoreBackend(fernet_keys=",".join(keys), home=home)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    old = store(tmp_path / "home", OLD)
    old.set_connection(conn())
    old.put_pending(conn(PENDING), token="t1", step="set")
    old.set_variable("v1", VARIABLE)
    old.set_variable("v2", "plain")
    old.close()
    return tmp_path / "home"


def _key_ids(home: Path) -> set[str]:
    with sqlite3.connect(home / DB_FILE_NAME) as db:
        return {
            str(row[0])
            for table in ("connection", "connection_pending", "variable")
            for row in db.execute(f"SELECT key_id FROM {table}")
        }


def test_every_table_moves_to_the_new_key(home: Path) -> None:
    both = store(home, NEW, OLD)
    seen: list[int] = []
    assert both.rotate_keys(batch_size=1, progress=seen.append) == 4
    assert seen == [1, 2, 3, 4]  # one per batch, counted across tables
    assert _key_ids(home) == {fingerprint(NEW)}
    assert both.rotate_keys() == 0  # resumable: nothing left
    assert both.rotate_keys(force=True) == 4
    both.close()
    only_new = store(home, NEW)
    assert only_new.get_connection("app") == conn()
    pending = only_new.get_pending("app")
    assert pending is not None
    assert (pending.token, pending.step, pending.connection.password) == ("t1", "set", PENDING)
    assert only_new.get_variable("v1") == VARIABLE
    assert dict(only_new.list_variables()) == {"v1": VARIABLE, "v2": "plain"}
    only_new.close()


def test_a_new_key_alone_refuses_to_write_while_a_pending_row_needs_the_old(
    tmp_path: Path,
) -> None:
    old = store(tmp_path / "home", OLD)
    old.set_connection(conn())
    old.put_pending(conn(PENDING), token="t1", step="set")
    old.close()
    with sqlite3.connect(tmp_path / "home" / DB_FILE_NAME) as db:  # only the pending row is old
        db.execute("UPDATE connection SET key_id = ?", (fingerprint(NEW),))
    only_new = store(tmp_path / "home", NEW)
    with pytest.raises(DecryptionError) as caught:
        only_new.set_variable("v", VARIABLE)
    message = str(caught.value)
    assert f"{fingerprint(OLD)} (1 row)" in message
    assert "Nothing was written" in message
    for secret in (CANARY, PENDING, VARIABLE, OLD, NEW):
        assert secret not in message
    only_new.close()


def test_a_pending_row_no_configured_key_reads_fails_typed(home: Path) -> None:
    wrong = store(home, NEW, generate_key())
    with pytest.raises(DecryptionError) as caught:
        wrong.rotate_keys()
    message = str(caught.value)
    assert "'app'" in message
    for secret in (CANARY, PENDING, VARIABLE, OLD, NEW):
        assert secret not in message
    wrong.close()
    assert fingerprint(OLD) in _key_ids(home)  # nothing half-written


def test_rotation_interrupted_keys_rotated_old_key_dropped_then_resumed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = store(home, OLD)
    old.set_connection(conn())
    KeyFake.die_in_test = True
    with pytest.raises(Interrupted):
        Rotator(SecretsChain([old]), ledger=old).rotate("app")
    interrupted = old.get_pending("app")
    assert interrupted is not None
    assert interrupted.step == "set"
    old.close()

    both = store(home, NEW, OLD)
    assert both.rotate_keys() == 2  # the connection and the pending version
    both.close()

    KeyFake.die_in_test = False
    only_new = store(home, NEW)
    result = Rotator(SecretsChain([only_new]), ledger=only_new).rotate("app")
    assert result.resumed_from == "set"
    current = only_new.get_connection("app")
    assert current is not None
    assert current.password == interrupted.connection.password != CANARY
    assert only_new.get_pending("app") is None
    assert _key_ids(home) == {fingerprint(NEW)}
    only_new.close()
