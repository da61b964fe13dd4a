"""Where audit records go: a JSONL file under ``HOOKLINE_HOME`` (rotated by size), a table in the
metastore database (for many machines), and syslog. More through the ``hookline.audit_sinks`` entry
points: a sink is any object with ``write(records)`` and ``close()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import socket
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Protocol

from hookline.audit.log import (
    CHECKPOINT_SUFFIX,
    GENESIS_MAC,
    AuditRecord,
    Checkpoint,
    log_files,
    sign,
)
from hookline.exceptions import AuditError

__all__ = ["AuditSink", "FileSink", "MetastoreSink", "SyslogSink"]


class AuditSink(Protocol):
    """Anything that stores signed audit records, in order."""

    name: str

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Store ``records`` durably, or raise."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


def rechain(records: Sequence[AuditRecord], seq: int, mac: str, key: bytes) -> list[AuditRecord]:
    """``records`` chained after the record ``seq`` with mac ``mac`` (signed again only when another
    process appended to the same log since this one signed them)."""
    if records and records[0].seq == seq + 1 and records[0].prev == mac:
        return list(records)
    out: list[AuditRecord] = []
    for record in records:
        seq += 1
        item = sign(key, dataclasses.replace(record, seq=seq, prev=mac))
        out.append(item)
        mac = item.mac
    return out


def last_line(path: Path) -> str:
    """The last non-empty line of ``path`` (read backwards from the end), "" when none."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return ""
    with handle:
        end = handle.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
            stripped = data.rstrip(b"\n")
            if b"\n" in stripped or position == 0:
                return stripped.rsplit(b"\n", 1)[-1].decode("utf-8")
    return ""


class FileSink:
    """Append records to ``path`` (one JSON object per line, mode 0600), fsynced per batch.

    Several processes may share the file: each batch is appended under an exclusive ``flock`` on
    ``<name>.lock`` and chained to the file's last record, so the file holds one chain whatever
    the number of writers. When the file passes ``max_bytes`` it is renamed ``<name>.<n>`` and a
    new file starts; the chain continues across files (the first record of the new file points at
    the last of the old one). A signed checkpoint beside it (``<name>.checkpoint``) records the
    newest committed record, so truncation is detected by :func:`hookline.audit.log.verify`.
    """

    name = "file"

    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, key: bytes) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._key = key
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.checkpoint_path = path.with_name(path.name + CHECKPOINT_SUFFIX)
        self._lock_path = path.with_name(path.name + ".lock")
        # (inode, size) of the file after this sink's last write, and the chain position there:
        # when the file is unchanged since, its tail need not be read again.
        self._known: tuple[int, int, int, str] | None = None

    def last(self) -> tuple[int, str]:
        """The sequence number and mac of the newest record (0 and the genesis mac when empty)."""
        for file in reversed(log_files(self.path)):
            line = last_line(file)
            if line:
                try:
                    record = AuditRecord.from_json(line)
                except AuditError:
                    raise AuditError(
                        f"the last line of {file} is not an audit record (a write cut short by a "
                        "crash, or an edit): the chain cannot be continued; run `hookline audit "
                        "verify`, keep the file as evidence and move it aside"
                    ) from None
                return record.seq, record.mac
        return 0, GENESIS_MAC

    @contextlib.contextmanager
    def _locked(self) -> Generator[None, None, None]:
        fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        with self._locked():
            self._rotate_if_full()
            seq, mac = self._position()
            chained = rechain(records, seq, mac, self._key)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write("".join(record.to_json() + "\n" for record in chained))
                handle.flush()
                os.fsync(handle.fileno())
                stat = os.fstat(handle.fileno())
            last = chained[-1]
            Checkpoint(last.seq, last.mac).signed(self._key).save(self.checkpoint_path)
            self._known = (stat.st_ino, stat.st_size, last.seq, last.mac)

    def _position(self) -> tuple[int, str]:
        known = self._known
        if known is not None:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                stat = None
            if stat is not None and (stat.st_ino, stat.st_size) == known[:2]:
                return known[2], known[3]
        return self.last()

    def _rotate_if_full(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.max_bytes:
            return
        numbers = [int(p.name.rsplit(".", 1)[1]) for p in log_files(self.path)[:-1]]
        os.replace(
            self.path, self.path.with_name(f"{self.path.name}.{max(numbers, default=0) + 1}")
        )

    def close(self) -> None:
        """Nothing is kept open between batches."""


class SyslogSink:
    """Send each record as one syslog datagram (RFC 3164 style, facility AUTHPRIV, severity INFO:
    ``<86>hookline-audit: {json}``). A send that fails raises, so the writer knows the sink failed.

    Args:
        address: A socket path (default ``/dev/log``) or ``"host:port"`` for UDP.
    """

    name = "syslog"
    _PRIORITY = 10 * 8 + 6  # LOG_AUTHPRIV, LOG_INFO

    def __init__(self, address: str = "/dev/log") -> None:
        self._target: Any
        if ":" in address and not address.startswith("/"):
            host, _, port = address.rpartition(":")
            self._target = (host, int(port))
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            self._target = address
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def write(self, records: Sequence[AuditRecord]) -> None:
        for record in records:
            message = f"<{self._PRIORITY}>hookline-audit: {record.to_json()}".encode()
            self._socket.sendto(message, self._target)

    def close(self) -> None:
        self._socket.close()


class MetastoreSink:
    """Store records in the ``hookline_audit`` table of a SQL database (the metastore's URL), so many
    machines share one log. Each host keeps its own chain (``host``, ``seq``): a batch is chained to
    the host's newest row inside its transaction, and a concurrent writer of the same host makes the
    insert collide on ``(host, seq)`` and retry, so the table holds one chain per host."""

    name = "metastore"
    _ATTEMPTS = 20

    def __init__(self, url: str, *, key: bytes) -> None:
        import sqlalchemy as sa

        self._key = key
        self._engine = sa.create_engine(url, pool_pre_ping=True)
        self._metadata = sa.MetaData()
        self._table = sa.Table(
            "hookline_audit",
            self._metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("host", sa.String(255), nullable=False, index=True),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("record", sa.Text, nullable=False),
            sa.UniqueConstraint("host", "seq", name="uq_hookline_audit_host_seq"),
        )
        self._created = False

    def write(self, records: Sequence[AuditRecord]) -> None:
        import sqlalchemy as sa

        if not records:
            return
        if not self._created:
            try:
                self._metadata.create_all(self._engine)
            except sa.exc.DBAPIError:  # another process created it at the same moment
                if not sa.inspect(self._engine).has_table(self._table.name):
                    raise
            self._created = True
        table = self._table
        host = records[0].host
        for attempt in range(self._ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    row = conn.execute(
                        sa.select(table.c.seq, table.c.record)
                        .where(table.c.host == host)
                        .order_by(table.c.seq.desc())
                        .limit(1)
                    ).first()
                    seq, mac = (
                        (row[0], AuditRecord.from_json(row[1]).mac) if row else (0, GENESIS_MAC)
                    )
                    chained = rechain(records, seq, mac, self._key)
                    conn.execute(
                        table.insert(),
                        [
                            {"host": r.host, "seq": r.seq, "ts": r.ts, "record": r.to_json()}
                            for r in chained
                        ],
                    )
                return
            except sa.exc.IntegrityError:
                if attempt == self._ATTEMPTS - 1:
                    raise

    def records(self, host: str | None = None) -> list[AuditRecord]:
        """The stored records (of ``host``, or every host), by host then sequence number."""
        import sqlalchemy as sa

        table = self._table
        query = sa.select(table.c.record).order_by(table.c.host, table.c.seq)
        if host is not None:
            query = query.where(table.c.host == host)
        with self._engine.connect() as conn:
            return [AuditRecord.from_json(row[0]) for row in conn.execute(query)]

    def close(self) -> None:
        self._engine.dispose()
