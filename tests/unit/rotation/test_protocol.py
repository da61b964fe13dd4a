"""The rotation protocol against an in-memory stageable backend and a fake strategy."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from hookline import Connection
from hookline.cli.app import app
from hookline.events import RotationStep
from hookline.exceptions import ConfigurationError, InvalidConnection, RotationError
from hookline.resolve import default as resolver
from hookline.resolve.chain import SecretsChain
from hookline.rotation import (
    PasswordPolicy,
    RotationSettings,
    Rotator,
    Strategy,
    get_strategy,
    register_strategy,
    strategies,
)
from hookline.rotation.fallback import pending_connection
from hookline.rotation.strategies import _retarget_grant
from hookline.secrets.base import PendingVersion
from hookline.testing import InMemoryBackend, capture_events

CANARY = "Canary0ldPassw0rdUnit"


class StageableMemory(InMemoryBackend):
    """InMemoryBackend plus the stageable contract, and a rotation ledger."""

    stageable = True

    def __init__(self, conns: dict[str, Connection]) -> None:
        super().__init__(conns)
        self.pending: dict[str, PendingVersion] = {}
        self.rotated: dict[str, tuple[str, float]] = {}

    def put_pending(self, conn: Connection, *, token: str, step: str) -> None:
        conn_id = str(conn.conn_id)
        found = self.pending.get(conn_id)
        if found is not None and found.token != token:
            raise RotationError("another rotation is pending", step=step)
        self.pending[conn_id] = PendingVersion(conn, token, step, time.time())

    def get_pending(self, conn_id: str) -> PendingVersion | None:
        return self.pending.get(conn_id)

    def promote_pending(self, conn_id: str, token: str) -> None:
        found = self.pending.get(conn_id)
        if found is None or found.token != token:
            if self.rotated.get(conn_id, ("", 0.0))[0] == token:
                return
            raise RotationError("nothing to promote", step="finish")
        self.set_connection(found.connection)
        del self.pending[conn_id]
        self.rotated[conn_id] = (token, time.time())

    def discard_pending(self, conn_id: str, token: str) -> None:
        found = self.pending.get(conn_id)
        if found is not None and found.token == token:
            del self.pending[conn_id]

    def last_rotated_at(self, conn_id: str) -> float | None:
        found = self.rotated.get(conn_id)
        return None if found is None else found[1]

    def record_rotation(self, conn_id: str, token: str, at: float) -> None:
        self.rotated[conn_id] = (token, at)


class FakeServer:
    """What the fake strategy's server accepts, and what happened to it."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {"app": CANARY}
        self.calls: list[str] = []
        self.fail: set[str] = set()


SERVER = FakeServer()


class FakeStrategy(Strategy):
    name = "fake"

    def set(self, current: Connection, pending: Connection) -> None:
        SERVER.calls.append("set")
        if "set" in SERVER.fail:
            raise OSError("server down")
        SERVER.passwords[str(pending.login)] = str(pending.password)

    def test(self, pending: Connection) -> None:
        SERVER.calls.append("test")
        if "test" in SERVER.fail or SERVER.passwords.get(str(pending.login)) != pending.password:
            raise OSError("login refused")

    def revert(self, current: Connection, pending: Connection) -> None:
        SERVER.calls.append("revert")
        if "revert" in SERVER.fail:
            raise OSError("cannot undo")
        SERVER.passwords[str(current.login)] = str(current.password)


@pytest.fixture(autouse=True)
def server() -> Iterator[FakeServer]:
    global SERVER
    SERVER = FakeServer()
    register_strategy("fake", FakeStrategy)
    yield SERVER
    strategies._registered.pop("fake", None)


def _conn(**extra: object) -> Connection:
    return Connection(
        conn_id="app", conn_type="postgres", host="db", login="app", password=CANARY,
        extra={"rotation_strategy": "fake", **extra},
    )  # fmt: skip


@pytest.fixture
def backend() -> StageableMemory:
    return StageableMemory({"app": _conn()})


def _rotator(backend: StageableMemory, **settings: object) -> Rotator:
    return Rotator(
        SecretsChain([backend]),
        settings=RotationSettings.from_mapping(settings),
        ledger=backend,  # type: ignore[arg-type]
    )


def test_full_rotation_runs_four_steps_and_emits_events(backend: StageableMemory) -> None:
    with capture_events() as events:
        result = _rotator(backend).rotate("app")
    assert result.steps == ("create", "set", "test", "finish")
    assert result.strategy == "fake"
    new = backend.get_connection("app")
    assert new is not None
    assert new.password != CANARY
    assert SERVER.passwords["app"] == new.password
    assert backend.pending == {}
    assert backend.last_rotated_at("app") is not None
    steps = [(e.step, e.outcome, e.strategy) for e in events if isinstance(e, RotationStep)]
    assert steps == [(s, "ok", "fake") for s in ("create", "set", "test", "finish")]
    assert all(str(new.password) not in repr(e) for e in events)


@pytest.mark.parametrize(("step", "remaining"), [("create", 3), ("set", 2), ("test", 1)])
def test_resume_after_each_recorded_step(
    backend: StageableMemory, step: str, remaining: int
) -> None:
    pending = _conn().replace(password="N3wPassw0rdFromACrashedRun")
    backend.put_pending(pending, token="t0", step=step)
    if step != "create":
        SERVER.passwords["app"] = "N3wPassw0rdFromACrashedRun"
    with capture_events() as events:
        result = _rotator(backend).rotate("app")
    assert result.resumed_from == step
    assert len(result.steps) == remaining
    assert backend.get_connection("app") == pending
    assert backend.rotated["app"][0] == "t0"
    skipped = [e.step for e in events if isinstance(e, RotationStep) and e.outcome == "skipped"]
    assert skipped == ["create", "set", "test"][: 4 - remaining]


@pytest.mark.parametrize("failing", ["set", "test"])
def test_failed_step_rolls_back_and_keeps_current(backend: StageableMemory, failing: str) -> None:
    SERVER.fail.add(failing)
    with capture_events() as events, pytest.raises(RotationError) as caught:
        _rotator(backend).rotate("app")
    assert caught.value.step == failing
    assert "rolled back" in str(caught.value)
    assert backend.get_connection("app") == _conn()
    assert backend.pending == {}
    assert SERVER.passwords["app"] == CANARY
    assert "revert" in SERVER.calls
    assert (failing, "failed") in [
        (e.step, e.outcome) for e in events if isinstance(e, RotationStep)
    ]


def test_failed_undo_keeps_the_pending_version(backend: StageableMemory) -> None:
    SERVER.fail.update({"test", "revert"})
    with pytest.raises(RotationError) as caught:
        _rotator(backend).rotate("app")
    assert caught.value.step == "test"
    assert "run the rotation again" in str(caught.value)
    assert backend.pending["app"].step == "set"
    SERVER.fail.clear()
    assert _rotator(backend).rotate("app").resumed_from == "set"
    assert backend.pending == {}


def test_dry_run_changes_nothing(backend: StageableMemory) -> None:
    result = _rotator(backend).rotate("app", dry_run=True)
    assert result.dry_run
    assert result.steps == ("create", "set", "test", "finish")
    assert backend.get_connection("app") == _conn()
    assert backend.pending == {}
    assert SERVER.calls == []


def test_non_stageable_backend_is_refused() -> None:
    plain = InMemoryBackend({"app": _conn()})
    rotator = Rotator(SecretsChain([plain]), settings=RotationSettings())
    with pytest.raises(RotationError) as caught:
        rotator.rotate("app")
    assert caught.value.step == "create"
    assert "cannot stage" in str(caught.value)


def test_due_uses_extra_interval_config_list_and_ledger(backend: StageableMemory) -> None:
    backend.set_connection(_conn().replace(conn_id="fast", extra={"rotation_interval_s": 60}))
    backend.set_connection(_conn().replace(conn_id="listed", extra={}))
    backend.set_connection(_conn().replace(conn_id="never", extra={}))
    rotator = _rotator(backend, interval_s=3600, connections=["listed"])
    now = time.time()
    assert sorted(c for c, _, _ in rotator.due(now)) == ["fast", "listed"]
    backend.record_rotation("fast", "t", now - 30)
    backend.record_rotation("listed", "t", now - 4000)
    assert [c for c, _, _ in rotator.due(now)] == ["listed"]


def test_malformed_interval_is_a_typed_error(backend: StageableMemory) -> None:
    backend.set_connection(_conn().replace(conn_id="bad", extra={"rotation_interval_s": "soon"}))
    with pytest.raises(InvalidConnection) as caught:
        _rotator(backend).due()
    assert "rotation_interval_s" in str(caught.value)
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"password_length": 8}, "password_length"),
        ({"interval_s": "x"}, "interval_s"),
        ({"connections": "app"}, "connections must be a list"),
        ({"alternate_suffix": "-x"}, "alternate_suffix"),
        ({"password_symbols": "maybe"}, "password_symbols"),
    ],
)
def test_bad_rotation_settings(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RotationSettings.from_mapping(section)
    assert message in str(caught.value)


def test_password_policy() -> None:
    plain = PasswordPolicy().generate()
    assert len(plain) == 32
    assert plain.isalnum()
    assert any(c.isdigit() for c in plain)
    symbols = PasswordPolicy(length=20, symbols=True).generate()
    assert len(symbols) == 20
    assert not symbols.isalnum()
    assert PasswordPolicy().generate() != plain


def test_unknown_strategy_and_alternating_without_admin(backend: StageableMemory) -> None:
    with pytest.raises(ConfigurationError) as caught:
        get_strategy("nope")
    assert "single_user" in str(caught.value)
    with pytest.raises(ConfigurationError):
        register_strategy("bad", object)  # type: ignore[arg-type]
    backend.set_connection(_conn(rotation_strategy="alternating_users"))
    with pytest.raises(RotationError) as failed:
        _rotator(backend).rotate("app")
    assert failed.value.step == "set"
    assert "admin connection" in str(failed.value)
    assert backend.pending == {}


def test_alternating_users_switch_logins() -> None:
    strategy = get_strategy("alternating_users")(alternate_suffix="_b")
    first = strategy.create(_conn(), "x" * 20)
    assert first.login == "app_b"
    assert strategy.create(first, "y" * 20).login == "app"


def test_retarget_grant_drops_password_clause() -> None:
    line = "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*ABC'"
    assert _retarget_grant(line, "app", "app_alt", "%") == "GRANT USAGE ON *.* TO `app_alt`@`%`"
    grant = "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`%`"
    assert _retarget_grant(grant, "app", "app_alt", "%") == (
        "GRANT ALL PRIVILEGES ON `app`.* TO `app_alt`@`%`"
    )
    assert _retarget_grant("GRANT PROXY ON ''@'' TO 'x'@'%'", "app", "app_alt", "%") is None


def test_pending_fallback_reads_the_default_chain(backend: StageableMemory) -> None:
    resolver.set_default_resolver(SecretsChain([backend]))
    assert pending_connection("app") is None
    backend.put_pending(_conn().replace(password="Pend1ngPassw0rdXYZ"), token="t", step="set")
    found = pending_connection("app")
    assert found is not None
    assert found.password == "Pend1ngPassw0rdXYZ"


def test_cli_rotate_exit_codes_and_no_secret(backend: StageableMemory) -> None:
    resolver.set_default_resolver(SecretsChain([backend]))
    runner = CliRunner()
    ok = runner.invoke(app, ["rotate", "app", "--dry-run"])
    assert ok.exit_code == 0
    assert "would rotate with fake" in ok.output
    none = runner.invoke(app, ["rotate"])
    assert none.exit_code == 1
    assert "--due" in none.output
    SERVER.fail.add("test")
    resolver.set_default_resolver(SecretsChain([backend]))
    failed = runner.invoke(app, ["rotate", "app"])
    assert failed.exit_code == 1
    assert "FAILED at test" in failed.output
    assert CANARY not in failed.output
    SERVER.fail.clear()
    resolver.set_default_resolver(SecretsChain([backend]))
    done = runner.invoke(app, ["rotate", "app"])
    assert done.exit_code == 0, done.output
    new = backend.get_connection("app")
    assert new is not None
    assert str(new.password) not in done.output
    assert "rotated with fake" in done.output


def test_default_resolver_sees_the_new_version_at_once_with_the_metastore() -> None:
    """Through the configured chain (env, metastore) and its cache: a cached lookup before the
    rotation, the new version right after it, and ``get_connection(fresh=True)`` too."""
    resolver.default_chain().set_connection(_conn())
    assert resolver.get_connection("app").password == CANARY  # now cached
    result = Rotator(settings=RotationSettings()).rotate("app")
    assert result.backend == "metastore"
    new = resolver.get_connection("app")
    assert new.password != CANARY
    assert SERVER.passwords["app"] == new.password
    assert resolver.get_connection("app", fresh=True) == new


def test_cli_rotate_due(backend: StageableMemory) -> None:
    runner = CliRunner()
    resolver.set_default_resolver(SecretsChain([backend]))
    idle = runner.invoke(app, ["rotate", "--due"])
    assert idle.exit_code == 0
    assert "no connection is due" in idle.output
    backend.set_connection(_conn(rotation_interval_s=3600))
    resolver.set_default_resolver(SecretsChain([backend]))
    due = runner.invoke(app, ["rotate", "--due"])
    assert due.exit_code == 0, due.output
    assert "app: rotated with fake" in due.output
    resolver.set_default_resolver(SecretsChain([backend]))
    again = runner.invoke(app, ["rotate", "--due"])
    assert "no connection is due" in again.output
