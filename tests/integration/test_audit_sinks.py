"""The audit sinks against real servers: the metastore table on PostgreSQL and a syslog receiver (a
unix datagram socket and a UDP socket this test binds). Canary: no sink ever holds a secret. And
``fail_closed``: with the only sink's PostgreSQL stopped, secret reads fail with AuditUnavailable;
by default they go on and an error is logged."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import hookline
from hookline import audit
from hookline.audit.log import AuditRecord, load_audit_key, verify_lines
from hookline.audit.sinks import MetastoreSink
from hookline.events import EventBus
from hookline.exceptions import AuditUnavailable
from hookline.resolve.cache import CachedResolver
from hookline.resolve.chain import SecretsChain
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import generate_key
from hookline.testing import InMemoryBackend
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration

CANARY = "canary-audit-sinks-93c1"


class SyslogReceiver:
    """A syslog receiver: a datagram socket (unix or UDP) read by a thread into ``messages``."""

    def __init__(self, family: int) -> None:
        self.messages: list[str] = []
        self._dir = tempfile.mkdtemp(prefix="hl-syslog-", dir="/tmp")  # short: AF_UNIX path limit
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_UNIX:
            self.address = str(Path(self._dir) / "log")
            self.socket.bind(self.address)
        else:
            self.socket.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.socket.recv(65536).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(params=[socket.AF_UNIX, socket.AF_INET], ids=["unix", "udp"])
def syslog(request: pytest.FixtureRequest) -> Iterator[SyslogReceiver]:
    receiver = SyslogReceiver(request.param)
    yield receiver
    receiver.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    name = postgres_server.create_database(postgres_server.unique_name("audit"))
    return postgres_server.url(name)


@pytest.fixture(autouse=True)
def _audit_off() -> Iterator[None]:
    yield
    audit.disable()


def test_no_sink_holds_a_secret(
    tmp_path: Path,
    pg_url: str,
    postgres_server: PostgresServer,
    syslog: SyslogReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", f"{generate_key()},{generate_key()}")
    home = tmp_path / "home"
    audit.enable(
        audit.AuditSettings(
            enabled=True, sinks=("file", "metastore", "syslog"), syslog_address=syslog.address
        ),
        home=home,
        metastore_url=pg_url,
    )
    store = MetastoreBackend(url=pg_url)
    resolver = CachedResolver(SecretsChain([store]))
    chain = resolver.chain
    assert isinstance(chain, SecretsChain)
    chain.set_connection(
        hookline.Connection(
            conn_id="wh", conn_type="postgres", login="alice", password=CANARY, host="db"
        )
    )
    chain.set_connections(
        [hookline.Connection(conn_id="api", conn_type="http", extra={"api_key": CANARY})]
    )
    for _ in range(3):
        assert resolver.get_connection("wh").password == CANARY
    audit.record("reveal", conn_id="wh", actor="api:bob", detail="GET /connections/wh")
    store.rotate_keys(force=True)
    chain.delete_connection("api")
    store.close()
    audit.disable()

    kinds = ["write", "write", "lookup", "reveal", "key_rotation", "write", "cache_hits"]
    file_records = [
        AuditRecord.from_json(line) for _, _, line in audit.read_records(home / "audit.jsonl")
    ]
    assert [r.kind for r in file_records] == kinds
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        rows = [
            row[0]
            for row in conn.execute(sa.text("select record from hookline_audit order by seq"))
        ]
    engine.dispose()
    assert [AuditRecord.from_json(row).kind for row in rows] == kinds
    assert len(syslog.messages) == len(kinds) or _wait_for(
        lambda: len(syslog.messages) == len(kinds)
    )
    assert all(m.startswith("<86>hookline-audit: {") for m in syslog.messages)
    everything = "\n".join(
        [
            *rows,
            *syslog.messages,
            *(p.read_text() for p in home.iterdir() if p.name.startswith("audit.jsonl")),
        ]
    )
    assert CANARY not in everything
    assert postgres_server.superuser_password not in everything
    assert audit.verify_log(home / "audit.jsonl").ok


def _wait_for(condition: Callable[[], bool], timeout: float = 5) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_metastore_chain_with_concurrent_writers_and_cli_verify(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of one host append to the table at once: the (host, seq) key makes the loser
    retry after the winner's rows, so the host's chain stays one; ``audit verify --metastore``
    says so."""
    key = load_audit_key(tmp_path, log_exists=False)
    writers = [
        audit.AuditWriter(
            [MetastoreSink(pg_url, key=key)], key=key, bus=EventBus(), flush_interval_s=60
        )
        for _ in range(2)
    ]

    def work(writer: audit.AuditWriter, name: str) -> None:
        for i in range(15):
            writer.record("reveal", conn_id=f"{name}{i}")
            assert writer.flush() == 1

    threads = [
        threading.Thread(target=work, args=(w, n)) for w, n in zip(writers, "ab", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for writer in writers:
        writer.close()
    reader = MetastoreSink(pg_url, key=key)
    records = reader.records()
    reader.close()
    assert len(records) == 30
    result = verify_lines(((str(r.seq), r.to_json()) for r in records), key)
    assert result.ok, result.problem

    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path))
    monkeypatch.setenv("HOOKLINE_METASTORE__URL", pg_url)
    from hookline.cli.app import app

    ok = CliRunner().invoke(app, ["audit", "verify", "--metastore"])
    assert ok.exit_code == 0, ok.output
    assert "OK: 30 record(s) of 1 host(s)" in ok.stdout
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # tamper with one row
        row = conn.execute(sa.text("select id, record from hookline_audit where seq = 7")).one()
        conn.execute(
            sa.text("update hookline_audit set record = :r where id = :i"),
            {"r": row[1].replace('"conn_id":"', '"conn_id":"x'), "i": row[0]},
        )
    engine.dispose()
    bad = CliRunner().invoke(app, ["audit", "verify", "--metastore"])
    assert bad.exit_code == 1
    assert "seq 7: record 7 was altered" in bad.stderr


@pytest.mark.parametrize("fail_closed", [True, False], ids=["fail-closed", "fail-open"])
def test_a_stopped_postgresql_sink(
    tmp_path: Path,
    postgres_factory: Callable[[], PostgresServer],
    fail_closed: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = postgres_factory()
    url = server.url(server.create_database("audit"))
    audit.enable(
        audit.AuditSettings(enabled=True, sinks=("metastore",), fail_closed=fail_closed),
        home=tmp_path,
        metastore_url=url,
    )
    backend = InMemoryBackend({"wh": f"postgres://alice:{CANARY}@db/app"})
    resolver = CachedResolver(SecretsChain([backend]))
    assert resolver.get_connection("wh").login == "alice"
    writer = audit.active()
    assert writer is not None
    writer.flush()
    server.stop()
    if fail_closed:
        with pytest.raises(AuditUnavailable, match="fail_closed") as info:
            resolver.get_connection("wh", fresh=True)
        assert CANARY not in str(info.value)
        with pytest.raises(AuditUnavailable):
            audit.record("reveal", conn_id="wh")
    else:
        assert resolver.get_connection("wh", fresh=True).login == "alice"
        assert writer.flush() == 0
        assert "audit sink metastore failed: OperationalError" in caplog.text
        assert resolver.get_connection("wh").login == "alice"
    assert CANARY not in caplog.text
    assert server.superuser_password not in caplog.text
    with contextlib.suppress(Exception):
        audit.disable()
