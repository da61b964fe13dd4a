"""The audit log: who read or changed which secret, tamper-evident, written off the hot path.

    import hookline.audit
    hookline.audit.enable()          # or [audit] enabled = true in hookline.toml

* :mod:`~hookline.audit.log`: records, their HMAC hash chain (keyed by an audit key that is not the
  Fernet key), the signed checkpoint and :func:`~hookline.audit.log.verify`;
* :mod:`~hookline.audit.sinks`: a JSONL file under ``HOOKLINE_HOME`` rotated by size, a metastore
  table, syslog, and more through the ``hookline.audit_sinks`` entry point group;
* :mod:`~hookline.audit.writer`: the event listener and its background writer (fail-open by default,
  fail-closed on request).

Records hold conn_ids, backends, outcomes, keyed fingerprints of values, process, host and OS user;
never a value. Other code records its own actions (a secret revealed through an API, say) with
:func:`record`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hookline.audit.log import (
    AuditRecord,
    Checkpoint,
    VerifyResult,
    load_audit_key,
    log_files,
    read_records,
    verify,
)
from hookline.audit.sinks import AuditSink, FileSink, MetastoreSink, SyslogSink
from hookline.audit.writer import AuditWriter, install_sigterm_flush
from hookline.exceptions import ConfigurationError

__all__ = [
    "AuditRecord",
    "AuditSettings",
    "AuditWriter",
    "Checkpoint",
    "VerifyResult",
    "active",
    "disable",
    "enable",
    "log_path",
    "read_records",
    "record",
    "verify_log",
]

LOG_FILE_NAME = "audit.jsonl"
SINK_NAMES = ("file", "metastore", "syslog")
#: Entry point group of extra sinks: ``name = "package.module:factory"``, where
#: ``factory(settings: AuditSettings) -> AuditSink``; the name is then valid in ``sinks``.
SINK_ENTRY_POINTS = "hookline.audit_sinks"


def _plugin_sinks() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=SINK_ENTRY_POINTS)}


@dataclasses.dataclass(frozen=True, slots=True)
class AuditSettings:
    """The ``[audit]`` section.

    Attributes:
        enabled: Write an audit log (default off).
        sinks: Any of ``file``, ``metastore``, ``syslog``.
        fail_closed: Refuse secret reads while no sink can write (default: fail open, log an error).
        directory: Where the file sink writes (default ``HOOKLINE_HOME``).
        max_file_bytes: Size at which the file is rotated.
        syslog_address: A socket path or ``host:port`` (UDP).
        aggregate_interval_seconds: How often cache hits are written, per conn_id.
    """

    enabled: bool = False
    sinks: tuple[str, ...] = ("file",)
    fail_closed: bool = False
    directory: str = ""
    max_file_bytes: int = 10_000_000
    syslog_address: str = "/dev/log"
    aggregate_interval_seconds: float = 60.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AuditSettings:
        """Build from a ``[audit]`` table.

        Raises:
            ConfigurationError: an unknown key or sink, or a value of the wrong type.
        """
        from hookline.options import parse_bool, parse_float, parse_int

        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown key(s) in [audit]: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in {"enabled", "fail_closed"}:
                values[key] = parse_bool(value, name=f"audit.{key}", error=ConfigurationError)
            elif key == "sinks":
                sinks = tuple(value.split(",") if isinstance(value, str) else value)
                sinks = tuple(str(s).strip() for s in sinks if str(s).strip())
                bad = [s for s in sinks if s not in SINK_NAMES]
                if bad:
                    known_names = (*SINK_NAMES, *sorted(_plugin_sinks()))
                    bad = [s for s in bad if s not in known_names]
                if bad:
                    raise ConfigurationError(
                        f"unknown audit sink(s) {', '.join(bad)}; known: "
                        f"{', '.join((*SINK_NAMES, *sorted(_plugin_sinks())))}"
                    )
                values[key] = sinks
            elif key == "max_file_bytes":
                values[key] = parse_int(
                    value, name="audit.max_file_bytes", minimum=1024, error=ConfigurationError
                )
            elif key == "aggregate_interval_seconds":
                values[key] = parse_float(
                    value,
                    name="audit.aggregate_interval_seconds",
                    minimum=0.01,
                    error=ConfigurationError,
                )
            else:
                values[key] = str(value)
        return cls(**values)


_active: AuditWriter | None = None


def metastore_sink_url(url: str | None, home: str | os.PathLike[str]) -> str:
    """The metastore sink's database: ``[metastore] url``, else the SQLite metastore in ``home``."""
    if url:
        return url
    from hookline.secrets.metastore.paths import DB_FILE_NAME

    return f"sqlite:///{Path(home) / DB_FILE_NAME}"


def log_path(settings: AuditSettings, home: str | os.PathLike[str]) -> Path:
    """The file sink's log file."""
    return Path(settings.directory or home) / LOG_FILE_NAME


def enable(
    settings: AuditSettings | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    metastore_url: str | None = None,
    sinks: Sequence[AuditSink] = (),
) -> AuditWriter:
    """Start auditing this process (idempotent: the running writer is returned).

    Args:
        settings: The ``[audit]`` settings (default: enabled, file sink).
        home: ``HOOKLINE_HOME`` (default: from configuration).
        metastore_url: The database of the ``metastore`` sink (default: ``[metastore] url``).
        sinks: Extra sink objects (tests, custom sinks).

    Raises:
        ConfigurationError: the audit key is missing for an existing log, or a sink is misconfigured.
    """
    global _active
    if _active is not None:
        return _active
    settings = settings or AuditSettings(enabled=True)
    if home is None or ("metastore" in settings.sinks and metastore_url is None):
        from hookline.config import load_settings

        loaded = load_settings()
        home = home if home is not None else loaded.home
        metastore_url = metastore_url or loaded.metastore_url
    path = log_path(settings, home)
    key = load_audit_key(path.parent, log_exists=bool(log_files(path)))
    from hookline import events

    events.set_fingerprint_key(key)
    chosen: list[AuditSink] = []
    start_seq, start_mac = 0, ""
    for name in settings.sinks:
        if name == "file":
            file_sink = FileSink(path, max_bytes=settings.max_file_bytes, key=key)
            start_seq, start_mac = file_sink.last()
            chosen.append(file_sink)
        elif name == "syslog":
            chosen.append(SyslogSink(settings.syslog_address))
        elif name == "metastore":
            chosen.append(MetastoreSink(metastore_sink_url(metastore_url, home), key=key))
        else:
            factory = _plugin_sinks()[name].load()
            chosen.append(factory(settings))
    chosen.extend(sinks)
    if not chosen:
        raise ConfigurationError("[audit] is enabled without any sink")
    _active = AuditWriter(
        chosen,
        key=key,
        start_seq=start_seq,
        start_mac=start_mac,
        fail_closed=settings.fail_closed,
        aggregate_interval_s=settings.aggregate_interval_seconds,
    )
    install_sigterm_flush()
    return _active


def record(
    action: str,
    *,
    conn_id: str | None = None,
    outcome: str = "ok",
    actor: str = "",
    detail: str = "",
    backend: str = "",
) -> bool:
    """Add one record for an action hookline cannot see by itself (a secret revealed by an API,
    an approval, ...). Process, host, OS user and time are filled in; ``detail`` and ``actor`` are
    masked. Never pass a secret: give ids and outcomes.

    Args:
        action: What happened: the record's ``kind`` (``reveal`` for a secret shown to someone).
        conn_id: The connection concerned, if any.
        outcome: ``ok``, ``shown``, ``denied``...
        actor: Who asked, when not the OS user running the process (an API user).
        detail: Free text (the command or endpoint).
        backend: The backend concerned, if any.

    Returns:
        True when recorded, False when auditing is off in this process.

    Raises:
        ConfigurationError: the configuration (read on first use) is invalid.
        AuditUnavailable: ``fail_closed`` is on and no sink can write: the record is written before
            this returns, so the caller must not go on (do not reveal what was not recorded).
    """
    writer = _active
    if writer is None:  # [audit] is applied with the default resolver: make sure it was
        from hookline.resolve.default import default_resolver

        default_resolver()
        writer = _active
        if writer is None:
            return False
    writer.record(
        action,
        conn_id=conn_id,
        backend=backend,
        outcome=outcome,
        actor=actor,
        detail=detail,
        sync=True,
    )
    return True


def active() -> AuditWriter | None:
    """The running writer, if auditing is on in this process."""
    return _active


def disable() -> None:
    """Stop auditing: flush pending records and close the sinks."""
    global _active
    writer, _active = _active, None
    if writer is not None:
        writer.close()


def verify_log(path: Path) -> VerifyResult:
    """Verify the log at ``path`` with its key and checkpoint (see :func:`hookline.audit.log.verify`)."""
    from hookline.audit.log import CHECKPOINT_SUFFIX

    key = load_audit_key(path.parent, log_exists=True)
    checkpoint = Checkpoint.load(path.with_name(path.name + CHECKPOINT_SUFFIX))
    return verify(path, key, checkpoint=checkpoint)
