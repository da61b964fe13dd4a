"""The tamper-evident audit log: records, their HMAC hash chain, and verification.

Each record is one JSON object per line. Its ``mac`` is ``HMAC-SHA256(audit key, prev_mac + canonical
JSON of the record without "mac")``, so a record depends on every record before it: editing, deleting,
inserting or reordering a record breaks the chain at that record. Truncation (cutting the newest
records off) leaves a valid prefix, so the writer also keeps a signed *checkpoint* (the last sequence
number and mac, HMAC-signed) beside the log; :func:`verify` reports a log shorter than its checkpoint.

The audit key is not the Fernet key: a reader of the metastore's encrypted values must not be able to
forge audit records, and rotating the Fernet key must not break the chain. It comes from
``HOOKLINE_AUDIT_KEY`` or ``audit.key`` beside the log (mode 0600), generated only when no log exists
yet: a log without its key cannot be verified or continued, and generating a new key would fork it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any, Final

from hookline.exceptions import AuditError, ConfigurationError

__all__ = [
    "AUDIT_KEY_ENV",
    "GENESIS_MAC",
    "AuditRecord",
    "Checkpoint",
    "VerifyResult",
    "load_audit_key",
    "log_files",
    "read_records",
    "sign",
    "verify",
    "verify_lines",
]

AUDIT_KEY_ENV: Final = "HOOKLINE_AUDIT_KEY"
GENESIS_MAC: Final = "0" * 64
_KEY_FILE: Final = "audit.key"
CHECKPOINT_SUFFIX: Final = ".checkpoint"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record. Never holds a secret: ids, names, outcomes and fingerprints only.

    Attributes:
        seq: Position in the chain, from 1.
        ts: Wall-clock time (seconds since the epoch).
        kind: The action: ``lookup``, ``cache_hits``, ``write``, ``refresh``, ``rotation``,
            ``reveal``, ``key_rotation``; ``variable_lookup``, ``variable_cache_hits``,
            ``variable_write``, ``variable_reveal`` (``conn_id`` then holds the variable key); or
            any action a caller of :func:`hookline.audit.record` names.
        conn_id: The connection concerned (None for a whole-store event).
        backend: The backend that answered or was written.
        outcome: ``hit``, ``absent``, ``unresolved``, ``error``, ``set``, ``delete``, ``ok`` ...
        fingerprint: A keyed fingerprint of the value served or written (never the value).
        count: How many accesses the record stands for (cache hits are aggregated per interval).
        pid, host, user: Who: the process, the machine and the OS user.
        detail: Free text without secrets (a CLI command line, a rotation step).
        prev: The mac of the previous record (the chain).
        mac: This record's HMAC.
        actor: Who asked, when not the OS user (an API user); empty otherwise. Covered by the mac
            only when set, so logs written before the field existed still verify.
    """

    seq: int
    ts: float
    kind: str
    conn_id: str | None
    backend: str
    outcome: str
    fingerprint: str
    count: int
    pid: int
    host: str
    user: str
    detail: str
    prev: str
    mac: str = ""
    actor: str = ""

    def body(self) -> bytes:
        """The canonical bytes the mac covers (every field but ``mac``; ``actor`` when set)."""
        data = dataclasses.asdict(self)
        del data["mac"]
        if not data["actor"]:
            del data["actor"]
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        """One line of the log (``actor`` only when set)."""
        data = dataclasses.asdict(self)
        if not data["actor"]:
            del data["actor"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> AuditRecord:
        """Parse one line of the log.

        Raises:
            AuditError: the line is not a record.
        """
        try:
            data = json.loads(line)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise AuditError(f"not an audit record: {type(exc).__name__}") from None


def sign(key: bytes, record: AuditRecord) -> AuditRecord:
    """``record`` with its mac, chained to ``record.prev``."""
    mac = hmac.new(key, record.prev.encode() + record.body(), hashlib.sha256).hexdigest()
    return dataclasses.replace(record, mac=mac)


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    """The newest record the writer committed: truncation below it is detected."""

    seq: int
    mac: str
    signature: str = ""

    def signed(self, key: bytes) -> Checkpoint:
        text = f"checkpoint:{self.seq}:{self.mac}".encode()
        return dataclasses.replace(self, signature=hmac.new(key, text, hashlib.sha256).hexdigest())

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.signed(key).signature, self.signature)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dataclasses.asdict(self), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise AuditError(
                f"audit checkpoint {path} is unreadable: {type(exc).__name__}"
            ) from None


def load_audit_key(directory: Path, *, log_exists: bool) -> bytes:
    """The audit HMAC key: ``HOOKLINE_AUDIT_KEY`` (base64), else ``audit.key`` in ``directory``.

    A key file is generated (mode 0600) only when neither exists and no log exists yet.

    Raises:
        ConfigurationError: the key is malformed, or a log exists without its key.
    """
    text = os.environ.get(AUDIT_KEY_ENV, "").strip()
    path = directory / _KEY_FILE
    if not text and path.exists():
        text = path.read_text().strip()
    if text:
        try:
            key = base64.urlsafe_b64decode(text.encode())
        except ValueError:
            key = b""
        if len(key) < 32:
            raise ConfigurationError(
                f"the audit key ({AUDIT_KEY_ENV} or {path}) must be at least 32 bytes, base64"
            )
        return key
    if log_exists:
        raise ConfigurationError(
            f"the audit log in {directory} exists but its key does not: set {AUDIT_KEY_ENV} or "
            f"restore {path}; a new key would fork the chain and make the old records unverifiable"
        )
    key = secrets.token_bytes(32)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode())
    return key


def log_files(path: Path) -> list[Path]:
    """The log's files, oldest first: rotated ``audit.jsonl.1``, ``.2`` ... then ``audit.jsonl``."""
    rotated = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated)]
    if path.exists():
        files.append(path)
    return files


def read_records(path: Path) -> Generator[tuple[Path, int, str], None, None]:
    """Every line of the log as ``(file, line number, text)``, oldest first."""
    for file in log_files(path):
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield file, number, line.rstrip("\n")


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found.

    Attributes:
        ok: The whole chain verifies and is not shorter than its checkpoint.
        records: Records read.
        problem: What is wrong, naming the file, line and sequence number; empty when ok.
    """

    ok: bool
    records: int
    problem: str = ""


def verify(path: Path, key: bytes, *, checkpoint: Checkpoint | None = None) -> VerifyResult:
    """Check the chain of the log at ``path`` (and its rotated files) and its checkpoint."""
    with contextlib.closing(read_records(path)) as lines:
        return verify_lines(
            ((f"{file.name} line {number}", line) for file, number, line in lines),
            key,
            checkpoint=checkpoint,
        )


def verify_lines(
    lines: Iterable[tuple[str, str]], key: bytes, *, checkpoint: Checkpoint | None = None
) -> VerifyResult:
    """Check one chain given as ``(where, JSON line)`` pairs, oldest first (``where`` names the
    record in the problem: a file and line, a table row)."""
    prev = GENESIS_MAC
    expected_seq = 1
    count = 0
    for where, line in lines:
        try:
            record = AuditRecord.from_json(line)
        except AuditError as exc:
            return VerifyResult(False, count, f"{where}: {exc}")
        if record.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                f"{where}: record {record.seq} where {expected_seq} was expected "
                "(a record was deleted, inserted or reordered)",
            )
        if record.prev != prev:
            return VerifyResult(
                False, count, f"{where}: record {record.seq} does not follow the previous one"
            )
        if not hmac.compare_digest(sign(key, record).mac, record.mac):
            return VerifyResult(False, count, f"{where}: record {record.seq} was altered (bad mac)")
        prev = record.mac
        expected_seq += 1
        count += 1
    if checkpoint is not None:
        if not checkpoint.valid(key):
            return VerifyResult(
                False, count, "the checkpoint's signature is invalid (it was altered)"
            )
        if checkpoint.seq > count:
            return VerifyResult(
                False,
                count,
                f"the log ends at record {count} but the checkpoint says {checkpoint.seq} were "
                "written: records were truncated",
            )
    return VerifyResult(True, count)


def chain_records(records: Iterable[AuditRecord], key: bytes) -> list[AuditRecord]:
    """Sign ``records`` in order as a fresh chain (tests and tools)."""
    out: list[AuditRecord] = []
    prev = GENESIS_MAC
    for seq, record in enumerate(records, start=1):
        signed = sign(key, dataclasses.replace(record, seq=seq, prev=prev))
        out.append(signed)
        prev = signed.mac
    return out


def to_dict(record: AuditRecord) -> dict[str, Any]:
    """The record as JSON-ready data."""
    return dataclasses.asdict(record)
