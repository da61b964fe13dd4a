"""Where audit records go: a JSONL file under ``HOOKLINE_HOME`` (rotated by size), a table in the
metastore database (for many machines), and syslog. More through the ``hookline.audit_sinks`` entry
points: a sink is any object with ``write(records)`` and ``close()``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from hookline.audit.log import CHECKPOINT_SUFFIX, GENESIS_MAC, AuditRecord, Checkpoint, log_files

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


class FileSink:
    """Append records to ``path`` (one JSON object per line, mode 0600), fsynced per batch.

    When the file passes ``max_bytes`` it is renamed ``<name>.<n>`` and a new file starts; the chain
    continues across files (the first record of the new file points at the last of the old one). A
    signed checkpoint beside it (``<name>.checkpoint``) records the newest committed record, so
    truncation is detected by :func:`hookline.audit.log.verify`.
    """

    name = "file"

    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, key: bytes) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._key = key
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.checkpoint_path = path.with_name(path.name + CHECKPOINT_SUFFIX)

    def last(self) -> tuple[int, str]:
        """The sequence number and mac of the newest record (0 and the genesis mac when empty)."""
        for file in reversed(log_files(self.path)):
            last_line = ""
            with file.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        last_line = line
            if last_line:
                record = AuditRecord.from_json(last_line)
                return record.seq, record.mac
        return 0, GENESIS_MAC

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        self._rotate_if_full()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write("".join(record.to_json() + "\n" for record in records))
            handle.flush()
            os.fsync(handle.fileno())
        last = records[-1]
        Checkpoint(last.seq, last.mac).signed(self._key).save(self.checkpoint_path)

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
    machines share one log. Each machine's chain is kept apart by its host name."""

    name = "metastore"

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

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
        self._metadata.create_all(self._engine)

    def write(self, records: Sequence[AuditRecord]) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                self._table.insert(),
                [
                    {"host": r.host, "seq": r.seq, "ts": r.ts, "record": r.to_json()}
                    for r in records
                ],
            )

    def close(self) -> None:
        self._engine.dispose()
