"""``hookline audit tail|search|verify``: read and check the audit log (``[audit]``, file sink).

The log is the JSONL file of the file sink (``[audit] directory``, default ``HOOKLINE_HOME``, with its
size-rotated files), or ``--file``. ``verify`` checks the HMAC chain across every file and the signed
checkpoint and exits 1 naming the first bad record; ``--metastore`` checks the metastore table's
chains (one per host) instead. Records never hold a secret, so nothing here needs masking beyond the
usual pass.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from hookline.audit.log import AuditRecord, log_files
from hookline.cli import common, render
from hookline.cli.common import CliFailure, VerboseOption

__all__ = ["AuditOutput", "app", "parse_since"]

app = typer.Typer(
    help="Read and verify the tamper-evident audit log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Set by tests to stop a running ``tail --follow``.
stop_event = threading.Event()


class AuditOutput(StrEnum):
    """The ``--output`` choices of ``audit tail`` and ``audit search``."""

    table = "table"
    json = "json"


OutputOption = Annotated[
    AuditOutput,
    typer.Option(
        "--output", "-o", help="table, or json (one record per line).", case_sensitive=False
    ),
]
FileOption = Annotated[
    Path | None,
    typer.Option("--file", help="The log file (default: the file sink's, from configuration)."),
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: float | None = None) -> float:
    """``1h``, ``30m``, ``2d``, ``45s``, ``1w`` ago, or an ISO 8601 time, as seconds since the epoch.

    Raises:
        typer.BadParameter: neither form.
    """
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (30s, 15m, 1h, 2d, 1w) nor an ISO 8601 time",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as typed
    return moment.timestamp()


def _log_path(file: Path | None) -> Path:
    if file is not None:
        return file
    from hookline.audit import AuditSettings, log_path
    from hookline.config import load_settings

    settings = load_settings()
    audit_settings = AuditSettings.from_mapping(settings.sections.get("audit", {}))
    return log_path(audit_settings, settings.home)


def _records(path: Path) -> Iterator[AuditRecord]:
    from hookline.audit import read_records

    for _, _, line in read_records(path):
        yield AuditRecord.from_json(line)


def _require_log(path: Path) -> None:
    if not log_files(path):
        raise CliFailure(f"no audit log at {path} (is [audit] enabled with the file sink?)")


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _json_line(record: AuditRecord) -> str:
    return record.to_json()


def _table(records: Iterable[AuditRecord]) -> Table:
    table = Table("seq", "time", "action", "conn_id", "outcome", "backend", "n", "who", "detail")
    for r in records:
        who = f"{r.user}@{r.host} pid {r.pid}" + (f" as {r.actor}" if r.actor else "")
        table.add_row(
            *(
                Text(value)
                for value in (
                    str(r.seq),
                    _time(r.ts),
                    r.kind,
                    r.conn_id or "",
                    r.outcome,
                    r.backend,
                    str(r.count),
                    who,
                    r.detail,
                )
            )
        )
    return table


def _print(records: list[AuditRecord], output: AuditOutput) -> None:
    console = common.out_console()
    if output is AuditOutput.json:
        for record in records:
            render.write_text(console, _json_line(record))
    else:
        console.print(_table(records))


@app.command("tail")
def tail(
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Records to show.")] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new records as they are written.")
    ] = False,
    interval_s: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between checks with --follow.")
    ] = 0.5,
    output: OutputOption = AuditOutput.table,
    file: FileOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Show the newest records; with --follow, keep printing new ones (across rotations) until
    interrupted."""
    path = _log_path(file)
    if not follow:
        _require_log(path)
    last: list[AuditRecord] = []
    for record in _records(path):
        last.append(record)
        if len(last) > lines:
            last.pop(0)
    if last or not follow:
        _print(last, output)
    if not follow:
        return
    seen = _newest_seq(path)
    while not stop_event.wait(interval_s):
        fresh = list(_new_records(path, seen))
        if fresh:
            seen = fresh[-1].seq
            _print(fresh, output)


def _newest_seq(path: Path) -> int:
    from hookline.audit.sinks import last_line

    for file in reversed(log_files(path)):
        line = last_line(file)
        if line:
            return AuditRecord.from_json(line).seq
    return 0


def _new_records(path: Path, after: int) -> Iterator[AuditRecord]:
    """Records after sequence number ``after``: the files are read newest first, stopping at the
    first file that starts at or before it (a rotation moves the old file aside)."""
    files: list[list[AuditRecord]] = []
    for file in reversed(log_files(path)):
        try:
            with file.open(encoding="utf-8") as handle:
                records = [AuditRecord.from_json(line) for line in handle if line.strip()]
        except FileNotFoundError:  # rotated away while listing: the next round sees it
            continue
        files.append(records)
        if records and records[0].seq <= after + 1:
            break
    for records in reversed(files):
        yield from (r for r in records if r.seq > after)


def _matches(
    record: AuditRecord,
    *,
    conn_ids: list[str],
    actions: list[str],
    outcomes: list[str],
    user: str | None,
    since: float | None,
    until: float | None,
) -> bool:
    return (
        (not conn_ids or record.conn_id in conn_ids)
        and (not actions or record.kind in actions)
        and (not outcomes or record.outcome in outcomes)
        and (user is None or user in (record.user, record.actor))
        and (since is None or record.ts >= since)
        and (until is None or record.ts <= until)
    )


@app.command("search")
def search(
    conn_id: Annotated[
        list[str] | None, typer.Option("--conn-id", help="Only this connection (repeatable).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only newer records: a duration ago (1h, 30m, 2d) or a time."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only older records: a duration ago or an ISO 8601 time."),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            help="Only this action (repeatable): lookup, cache_hits, write, refresh, rotation, "
            "key_rotation, reveal, or any a caller recorded.",
        ),
    ] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="Only this outcome (repeatable): hit, error, set, ..."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Only records of this OS user or actor.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="At most this many (the newest); 0: all.")
    ] = 0,
    output: OutputOption = AuditOutput.table,
    file: FileOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Show the records that match every filter given, oldest first."""
    path = _log_path(file)
    _require_log(path)
    now = time.time()
    since_ts = parse_since(since, now=now) if since is not None else None
    until_ts = parse_since(until, now=now) if until is not None else None
    found = [
        record
        for record in _records(path)
        if _matches(
            record,
            conn_ids=conn_id or [],
            actions=action or [],
            outcomes=outcome or [],
            user=user,
            since=since_ts,
            until=until_ts,
        )
    ]
    if limit:
        found = found[-limit:]
    _print(found, output)


@app.command("verify")
def verify(
    file: FileOption = None,
    metastore: Annotated[
        bool,
        typer.Option(
            "--metastore", help="Verify the metastore table's chains (one per host) instead."
        ),
    ] = False,
    verbose: VerboseOption = 0,
) -> None:
    """Check the log's HMAC chain (across its rotated files) and its signed checkpoint.

    Exit 0 when every record verifies; exit 1 naming the first record that was edited, deleted,
    inserted or reordered, or saying that records were truncated after the checkpoint.
    """
    from hookline.audit import verify_log

    path = _log_path(file)
    if metastore:
        _verify_metastore(path)
        return
    _require_log(path)
    result = verify_log(path)
    files = len(log_files(path))
    if not result.ok:
        raise CliFailure(
            f"audit log {path} does NOT verify: {result.problem} "
            f"({result.records} record(s) before it verified)"
        )
    render.write_text(
        common.out_console(),
        f"OK: {result.records} record(s) in {files} file(s) verified; chain and checkpoint intact",
    )


def _verify_metastore(path: Path) -> None:
    from hookline.audit import metastore_sink_url
    from hookline.audit.log import load_audit_key, verify_lines
    from hookline.audit.sinks import MetastoreSink
    from hookline.config import load_settings

    settings = load_settings()
    url = metastore_sink_url(settings.metastore_url, settings.home)
    key = load_audit_key(path.parent, log_exists=True)
    sink = MetastoreSink(url, key=key)
    try:
        by_host: dict[str, list[AuditRecord]] = {}
        for record in sink.records():
            by_host.setdefault(record.host, []).append(record)
    finally:
        sink.close()
    if not by_host:
        raise CliFailure("the metastore holds no audit records")
    problems = []
    total = 0
    for host, records in sorted(by_host.items()):
        result = verify_lines(((f"host {host} seq {r.seq}", r.to_json()) for r in records), key)
        total += result.records
        if not result.ok:
            problems.append(f"{host}: {result.problem}")
    if problems:
        raise CliFailure("the metastore audit table does NOT verify", problems)
    render.write_text(
        common.out_console(),
        f"OK: {total} record(s) of {len(by_host)} host(s) verified in the metastore",
    )
