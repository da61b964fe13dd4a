"""The audit log: records from real lookups, the hash chain, tamper detection, sinks, fail-closed."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import hookline
from hookline import audit
from hookline.audit.log import CHECKPOINT_SUFFIX, AuditRecord, Checkpoint, load_audit_key, verify
from hookline.audit.sinks import FileSink, MetastoreSink, SyslogSink
from hookline.events import EventBus
from hookline.exceptions import AuditUnavailable, ConfigurationError
from hookline.resolve.cache import CachedResolver
from hookline.resolve.chain import SecretsChain
from hookline.testing import InMemoryBackend

CANARY = "canary-audit-7e1f3a"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOKLINE_AUDIT_KEY", raising=False)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


def _resolver(bus: EventBus) -> CachedResolver:
    backend = InMemoryBackend({"wh": f"postgres://alice:{CANARY}@db/app"})
    return CachedResolver(SecretsChain([backend], bus=bus), bus=bus)


def _writer(
    tmp_path: Path, bus: EventBus, **kwargs: object
) -> tuple[audit.AuditWriter, Path, bytes]:
    path = tmp_path / "audit.jsonl"
    key = load_audit_key(tmp_path, log_exists=False)
    sink = FileSink(path, key=key, max_bytes=int(kwargs.pop("max_bytes", 10_000_000)))  # type: ignore[call-overload]
    writer = audit.AuditWriter([sink], key=key, bus=bus, flush_interval_s=60, **kwargs)  # type: ignore[arg-type]
    return writer, path, key


def _records(path: Path) -> list[AuditRecord]:
    return [AuditRecord.from_json(line) for _, _, line in audit.read_records(path)]


def _checkpoint(path: Path) -> Checkpoint | None:
    return Checkpoint.load(path.with_name(path.name + CHECKPOINT_SUFFIX))


def test_lookups_writes_and_cache_hits_become_records_without_secrets(
    tmp_path: Path, bus: EventBus
) -> None:
    writer, path, key = _writer(tmp_path, bus)
    resolver = _resolver(bus)
    for _ in range(5):
        resolver.get_connection("wh")
    resolver.set_connection(hookline.Connection(conn_id="new", conn_type="http", password=CANARY))
    writer.close()
    records = _records(path)
    kinds = [(r.kind, r.conn_id, r.outcome, r.count) for r in records]
    assert kinds == [
        ("lookup", "wh", "hit", 1),
        ("write", "new", "set", 1),
        ("cache_hits", "wh", "hit", 4),
    ]
    lookup = records[0]
    assert lookup.backend == "memory"
    assert len(lookup.fingerprint) == 16
    assert lookup.pid == os.getpid()
    assert lookup.user
    assert lookup.host == socket.gethostname()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert CANARY.encode() not in raw
    assert verify(path, key, checkpoint=_checkpoint(path)).ok


def test_the_fingerprint_changes_when_the_value_changes(tmp_path: Path, bus: EventBus) -> None:
    writer, path, _ = _writer(tmp_path, bus)
    backend = InMemoryBackend({"wh": "postgres://alice:one-password@db/app"})
    chain = SecretsChain([backend], bus=bus)
    chain.lookup("wh")
    chain.lookup("wh")
    backend.set_connection(
        hookline.Connection.from_uri("postgres://alice:two-password@db/app", conn_id="wh")
    )
    chain.lookup("wh")
    writer.close()
    prints = [r.fingerprint for r in _records(path)]
    assert prints[0] == prints[1] != prints[2]


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder", "truncate"])
def test_verify_detects_tampering_and_names_the_record(
    tmp_path: Path, bus: EventBus, tamper: str
) -> None:
    writer, path, key = _writer(tmp_path, bus)
    for i in range(5):
        writer.record("reveal", conn_id=f"c{i}", outcome="shown")
    writer.close()
    assert verify(path, key, checkpoint=_checkpoint(path)).ok
    lines = path.read_text().splitlines()
    if tamper == "edit":
        data = json.loads(lines[2])
        data["conn_id"] = "someone-else"
        lines[2] = json.dumps(data, sort_keys=True, separators=(",", ":"))
    elif tamper == "delete":
        del lines[2]
    elif tamper == "insert":
        lines.insert(2, lines[1])
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines = lines[:3]
    path.write_text("\n".join(lines) + "\n")
    result = verify(path, key, checkpoint=_checkpoint(path))
    assert not result.ok
    expected = {
        "edit": "record 3 was altered",
        "delete": "record 4 where 3 was expected",
        "insert": "record 2 where 3 was expected",
        "reorder": "record 3 where 2 was expected",
        "truncate": "records were truncated",
    }[tamper]
    assert expected in result.problem


def test_a_forged_checkpoint_is_detected(tmp_path: Path, bus: EventBus) -> None:
    writer, path, key = _writer(tmp_path, bus)
    writer.record("reveal", conn_id="a")
    writer.close()
    cp = _checkpoint(path)
    assert cp is not None
    Checkpoint(cp.seq - 1, cp.mac, cp.signature).save(path.with_name(path.name + CHECKPOINT_SUFFIX))
    result = verify(path, key, checkpoint=_checkpoint(path))
    assert "signature is invalid" in result.problem


def test_the_chain_continues_across_rotated_files_and_restarts(
    tmp_path: Path, bus: EventBus
) -> None:
    writer, path, key = _writer(tmp_path, bus, max_bytes=1024)
    for batch in range(4):
        for i in range(5):
            writer.record("reveal", conn_id=f"c{batch}-{i}")
        writer.flush()
    writer.close()
    assert len(audit.log_files(path)) > 1
    # a new process continues the same chain
    sink = FileSink(path, key=key, max_bytes=1024)
    seq, mac = sink.last()
    again = audit.AuditWriter([sink], key=key, start_seq=seq, start_mac=mac, bus=bus)
    again.record("reveal", conn_id="after-restart")
    again.close()
    result = verify(path, key, checkpoint=_checkpoint(path))
    assert result.ok, result.problem
    assert result.records == 21


def test_fail_closed_refuses_reads_when_no_sink_can_write(tmp_path: Path, bus: EventBus) -> None:
    class BrokenSink:
        name = "broken"

        def write(self, records: object) -> None:
            raise OSError(f"disk full ({CANARY})")

        def close(self) -> None:
            pass

    key = load_audit_key(tmp_path, log_exists=False)
    writer = audit.AuditWriter(
        [BrokenSink()], key=key, fail_closed=True, bus=bus, flush_interval_s=60
    )
    resolver = _resolver(bus)
    try:
        # a backend access is written before the value is handed out: refused at once
        with pytest.raises(AuditUnavailable, match="fail_closed") as info:
            resolver.get_connection("wh")
        assert CANARY not in str(info.value)
        with pytest.raises(AuditUnavailable):
            audit.AuditWriter.record(writer, "reveal", conn_id="wh", sync=True)
        writer.sinks[:] = [FileSink(tmp_path / "audit.jsonl", key=key)]
        assert resolver.get_connection("wh").login == "alice"  # a sink works again
        # cache hits are refused too while the background writer finds no sink
        resolver.get_connection("wh")  # a cache hit, counted
        writer.sinks[:] = [BrokenSink()]
        assert writer.flush() == 0
        with pytest.raises(AuditUnavailable):
            resolver.get_connection("wh")
        writer.sinks[:] = [FileSink(tmp_path / "audit.jsonl", key=key)]
    finally:
        writer.close()
    outcomes = [(r.kind, r.outcome) for r in _records(tmp_path / "audit.jsonl")]
    assert outcomes == [
        ("lookup", "refused"),
        ("reveal", "refused"),
        ("lookup", "hit"),
        ("cache_hits", "hit"),
    ]


def test_fail_open_by_default_logs_and_serves(
    tmp_path: Path, bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenSink:
        name = "broken"

        def write(self, records: object) -> None:
            raise OSError("disk full")

        def close(self) -> None:
            pass

    key = load_audit_key(tmp_path, log_exists=False)
    writer = audit.AuditWriter([BrokenSink()], key=key, bus=bus, flush_interval_s=60)
    resolver = _resolver(bus)
    resolver.get_connection("wh")
    writer.flush()
    assert resolver.get_connection("wh").login == "alice"
    assert "audit sink broken failed" in caplog.text
    writer.close()


def test_a_log_without_its_key_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").write_text("{}\n")
    with pytest.raises(ConfigurationError, match="exists but its key does not"):
        load_audit_key(tmp_path, log_exists=True)
    assert not (tmp_path / "audit.key").exists()


def test_key_file_is_private(tmp_path: Path) -> None:
    load_audit_key(tmp_path, log_exists=False)
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600


def test_syslog_sink_sends_each_record_over_udp(tmp_path: Path, bus: EventBus) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]
    key = load_audit_key(tmp_path, log_exists=False)
    writer = audit.AuditWriter(
        [SyslogSink(f"127.0.0.1:{port}")], key=key, bus=bus, flush_interval_s=60
    )
    _resolver(bus).get_connection("wh")
    writer.close()
    message = server.recv(65536).decode()
    server.close()
    assert message.startswith("<86>hookline-audit: {")
    assert '"conn_id":"wh"' in message
    assert CANARY not in message


def test_metastore_sink_stores_records_in_a_table(tmp_path: Path, bus: EventBus) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'hookline.db'}"
    key = load_audit_key(tmp_path, log_exists=False)
    writer = audit.AuditWriter([MetastoreSink(url, key=key)], key=key, bus=bus, flush_interval_s=60)
    _resolver(bus).get_connection("wh")
    writer.close()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select seq, record from hookline_audit")).all()
    engine.dispose()
    assert [row[0] for row in rows] == [1]
    assert CANARY not in rows[0][1]


def test_settings_are_checked() -> None:
    assert audit.AuditSettings.from_mapping({"enabled": "true", "sinks": "file,syslog"}).sinks == (
        "file",
        "syslog",
    )
    with pytest.raises(ConfigurationError, match="unknown key"):
        audit.AuditSettings.from_mapping({"enabeld": True})
    with pytest.raises(ConfigurationError, match="unknown audit sink"):
        audit.AuditSettings.from_mapping({"sinks": ["file", "kafka"]})


def _enabled(tmp_path: Path, **settings: object) -> tuple[Path, CachedResolver]:
    """Audit on through :func:`audit.enable` with a file sink in ``tmp_path/logs``; a resolver on
    the process-wide bus."""
    logs = tmp_path / "logs"
    audit.enable(
        audit.AuditSettings(enabled=True, directory=str(logs), **settings),  # type: ignore[arg-type]
        home=tmp_path,
    )
    backend = InMemoryBackend({"wh": f"postgres://alice:{CANARY}@db/app"})
    return logs, CachedResolver(SecretsChain([backend]))


def test_fail_closed_with_the_log_directory_removed(tmp_path: Path) -> None:
    import shutil

    logs, resolver = _enabled(tmp_path, fail_closed=True)
    try:
        assert resolver.get_connection("wh").login == "alice"  # written before it was served
        assert [r.kind for r in _records(logs / "audit.jsonl")] == ["lookup"]
        shutil.rmtree(logs)  # the file sink cannot write any more
        with pytest.raises(AuditUnavailable, match="fail_closed") as info:
            resolver.get_connection("wh", fresh=True)
        assert CANARY not in str(info.value)
        assert CANARY not in repr(info.value)
        with pytest.raises(AuditUnavailable):
            audit.record("reveal", conn_id="wh")
    finally:
        logs.mkdir(exist_ok=True)
        audit.disable()


def test_fail_open_by_default_with_the_log_directory_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    logs, resolver = _enabled(tmp_path)
    try:
        shutil.rmtree(logs)
        assert resolver.get_connection("wh").login == "alice"
        assert audit.record("reveal", conn_id="wh") is True
        writer = audit.active()
        assert writer is not None
        assert writer.flush() == 0
        assert writer.failing
        assert "audit sink file failed: FileNotFoundError" in caplog.text
        assert CANARY not in caplog.text
        assert resolver.get_connection("wh").login == "alice"  # still served
        logs.mkdir()
        assert writer.flush() == 3  # lookup, reveal, cache hits: kept until the sink works again
    finally:
        audit.disable()


def test_record_is_a_no_op_when_auditing_is_off() -> None:
    assert audit.active() is None
    assert audit.record("reveal", conn_id="x") is False


def test_the_actor_is_recorded_and_covered_by_the_mac(tmp_path: Path, bus: EventBus) -> None:
    writer, path, key = _writer(tmp_path, bus)
    writer.record("reveal", conn_id="wh", outcome="shown", actor="api:bob", detail="GET /x")
    writer.record("reveal", conn_id="wh", outcome="shown")
    writer.close()
    first, second = _records(path)
    assert (first.actor, second.actor) == ("api:bob", "")
    assert '"actor"' not in path.read_text().splitlines()[1]  # 0.2.0 records stay byte-identical
    data = json.loads(path.read_text().splitlines()[0])
    data["actor"] = "api:mallory"
    lines = path.read_text().splitlines()
    lines[0] = json.dumps(data, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    assert "record 1 was altered" in verify(path, key).problem


def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path, bus: EventBus) -> None:
    """Two processes (two writers here) appending to the same file: the sink re-chains each batch
    after the file's last record, under a lock."""
    path = tmp_path / "audit.jsonl"
    key = load_audit_key(tmp_path, log_exists=False)
    first = audit.AuditWriter(
        [FileSink(path, key=key)], key=key, bus=EventBus(), flush_interval_s=60
    )
    second = audit.AuditWriter(
        [FileSink(path, key=key)], key=key, bus=EventBus(), flush_interval_s=60
    )
    for i in range(3):
        first.record("reveal", conn_id=f"a{i}")
        first.flush()
        second.record("reveal", conn_id=f"b{i}")
        second.flush()
    first.close()
    second.close()
    result = verify(path, key, checkpoint=_checkpoint(path))
    assert result.ok, result.problem
    assert [r.conn_id for r in _records(path)] == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_an_entry_point_sink_is_loaded_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import EntryPoint

    collected: list[AuditRecord] = []

    class ListSink:
        name = "list"

        def __init__(self, settings: audit.AuditSettings) -> None:
            self.settings = settings

        def write(self, records: list[AuditRecord]) -> None:
            collected.extend(records)

        def close(self) -> None:
            pass

    point = EntryPoint(
        "list", "tests.unit.audit.test_audit:ListSinkFactory", "hookline.audit_sinks"
    )
    monkeypatch.setattr(audit, "_plugin_sinks", lambda: {"list": point})
    monkeypatch.setattr(EntryPoint, "load", lambda self: ListSink)
    settings = audit.AuditSettings.from_mapping({"enabled": True, "sinks": ["list"]})
    assert settings.sinks == ("list",)
    audit.enable(settings, home=tmp_path)
    try:
        audit.record("reveal", conn_id="wh", actor="api:bob")
    finally:
        audit.disable()
    assert [(r.kind, r.conn_id, r.actor) for r in collected] == [("reveal", "wh", "api:bob")]


def test_cache_hits_from_many_threads_are_all_counted(tmp_path: Path, bus: EventBus) -> None:
    import threading

    writer, path, _ = _writer(tmp_path, bus)
    resolver = _resolver(bus)
    resolver.get_connection("wh")

    def work() -> None:
        for _ in range(2000):
            resolver.get_connection("wh")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(5):  # flushes while the threads count
        writer.flush()
    for thread in threads:
        thread.join()
    writer.close()
    hits = [r for r in _records(path) if r.kind == "cache_hits"]
    assert sum(r.count for r in hits) == 16_000
    assert {r.conn_id for r in hits} == {"wh"}


def test_rotation_steps_and_refreshes_become_records(tmp_path: Path, bus: EventBus) -> None:
    from hookline.events import CredentialsRefreshed, RotationStep

    writer, path, key = _writer(tmp_path, bus)
    bus.emit(RotationStep(conn_id="wh", step="create", outcome="ok", strategy="single_user"))
    bus.emit(RotationStep(conn_id="wh", step="test", outcome="failed", strategy="single_user"))
    bus.emit(CredentialsRefreshed(conn_id="wh", hook="PostgresHook", changed=True))
    writer.close()
    assert [(r.kind, r.conn_id, r.backend, r.outcome, r.detail) for r in _records(path)] == [
        ("rotation", "wh", "single_user", "ok", "create"),
        ("rotation", "wh", "single_user", "failed", "test"),
        ("refresh", "wh", "PostgresHook", "changed", ""),
    ]
    assert verify(path, key, checkpoint=_checkpoint(path)).ok


def test_fail_closed_does_not_fail_a_write_that_happened(tmp_path: Path, bus: EventBus) -> None:
    class BrokenSink:
        name = "broken"

        def write(self, records: object) -> None:
            raise OSError("disk full")

        def close(self) -> None:
            pass

    key = load_audit_key(tmp_path, log_exists=False)
    writer = audit.AuditWriter(
        [BrokenSink()], key=key, fail_closed=True, bus=bus, flush_interval_s=60
    )
    writer.record("reveal", conn_id="x")
    assert writer.flush() == 0
    resolver = _resolver(bus)
    conn = hookline.Connection(conn_id="new", conn_type="http", password=CANARY)
    resolver.set_connection(conn)  # stored, and its record queued: not reported as failed
    writer.sinks[:] = [FileSink(tmp_path / "audit.jsonl", key=key)]
    writer.close()
    assert [r.kind for r in _records(tmp_path / "audit.jsonl")] == ["reveal", "write"]


def test_sigterm_waits_until_the_batch_is_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from hookline.audit import writer as audit_writer

    audit_writer.install_sigterm_flush()  # from the main thread: installs the handler once
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    calls: list[int] = []
    monkeypatch.setattr(
        audit_writer, "_previous_sigterm", lambda signum, frame: calls.append(signum)
    )
    with audit_writer._sigterm_deferred():
        handler(signal.SIGTERM, None)
        assert calls == []  # held back while a batch is committed
    assert calls == [signal.SIGTERM]
    handler(signal.SIGTERM, None)
    assert calls == [signal.SIGTERM, signal.SIGTERM]
    monkeypatch.setattr(audit_writer, "_previous_sigterm", signal.SIG_DFL)
    with pytest.raises(SystemExit) as info:
        handler(signal.SIGTERM, None)
    assert info.value.code == 128 + signal.SIGTERM


def test_a_cut_last_line_stops_the_chain_with_a_clear_error(tmp_path: Path, bus: EventBus) -> None:
    from hookline.exceptions import AuditError

    writer, path, key = _writer(tmp_path, bus)
    writer.record("reveal", conn_id="a")
    writer.close()
    with path.open("a") as handle:
        handle.write('{"seq": 2, "ts"')  # a write cut short
    with pytest.raises(AuditError, match="is not an audit record") as info:
        FileSink(path, key=key).last()
    assert "audit.jsonl" in str(info.value)
    assert "line 2" in verify(path, key).problem


def test_variable_lookups_and_cache_hits_are_kept_apart_from_connections(
    tmp_path: Path, bus: EventBus
) -> None:
    from hookline.events import CacheHit, LookupDone

    writer, path, _ = _writer(tmp_path, bus)
    bus.emit(LookupDone(conn_id="wh", source="memory", outcome="hit", kind="variable"))
    for _ in range(3):
        bus.emit(CacheHit(conn_id="wh", kind="variable"))
    bus.emit(CacheHit(conn_id="wh"))
    writer.close()
    assert [(r.kind, r.conn_id, r.count) for r in _records(path)] == [
        ("variable_lookup", "wh", 1),
        ("cache_hits", "wh", 1),
        ("variable_cache_hits", "wh", 3),
    ]
