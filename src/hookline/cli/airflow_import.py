"""``connections import --from-airflow-db`` (and the variables equivalent): the CLI side of
:mod:`hookline.airflow_migrate`.

A migration reads every row of the Airflow database first (all or nothing: one undecryptable or
invalid row stops it before anything is written), compares it with what hookline holds, then writes
the added and changed rows in one call (one transaction on the metastore). ``--dry-run`` prints the
plan (one line per id: add, change, unchanged, conflict; no value is ever printed) and writes
nothing; it exits 1 when the real run would fail (conflicts without ``--overwrite``). An id hookline
already holds with the same values is left alone (re-running a migration is harmless); one it holds
with other values is a conflict unless ``--overwrite``, as in ``connections import``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from hookline.cli import common, render
from hookline.cli.common import CliFailure
from hookline.connection import Connection
from hookline.exceptions import AirflowMigrationError, HooklineError

if TYPE_CHECKING:  # imported where used: `connections get` and the rest never need it
    from hookline import airflow_migrate as migrate

__all__ = [
    "AirflowKeyOption",
    "DryRunOption",
    "FromAirflowDbOption",
    "IgnoreTeamsOption",
    "import_connections",
    "import_variables",
]

FromAirflowDbOption = Annotated[
    str | None,
    typer.Option(
        "--from-airflow-db",
        metavar="URL",
        help="Import from an Airflow metadata database instead of a file (SQLAlchemy URL, e.g. "
        "sqlite:////path/airflow.db or postgresql://user:pw@host/airflow); read-only.",
    ),
]
AirflowKeyOption = Annotated[
    str | None,
    typer.Option(
        "--airflow-fernet-key",
        metavar="KEY[,KEY...]",
        help="Airflow's [core] fernet_key (comma-separated list: any key decrypts). Default: "
        "AIRFLOW__CORE__FERNET_KEY, else the airflow.cfg of AIRFLOW_CONFIG or AIRFLOW_HOME.",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="With --from-airflow-db: list what would be added, changed or left unchanged "
        "(no values) and write nothing.",
    ),
]
IgnoreTeamsOption = Annotated[
    bool,
    typer.Option(
        "--ignore-teams",
        help="With --from-airflow-db: import rows of Airflow 3 teams (team_name) for everyone; "
        "without it such rows stop the import.",
    ),
]


def _print(lines: Sequence[str]) -> None:
    render.write_text(common.out_console(), "\n".join(lines))


def _report_plan(
    plan: migrate.MigrationPlan, source: str, keys: str, dry_run: bool, target: str
) -> None:
    counts = plan.counts()
    summary = (
        f"{counts['add']} to add, {counts['change']} to change, {counts['unchanged']} unchanged"
        + (f", {counts['conflict']} conflicting" if counts["conflict"] else "")
    )
    if dry_run:
        _print(
            [
                f"Airflow {plan.kind}s in {source} ({keys}):",
                *plan.lines(),
                f"Dry run: {summary}; nothing written to {target}.",
            ]
        )


def _fail(exc: AirflowMigrationError) -> CliFailure:
    return CliFailure(str(exc), exc.problems)


def _run(
    kind: str,
    url: str,
    plan_of: Callable[[], tuple[migrate.MigrationPlan, str]],
    write: Callable[[migrate.MigrationPlan], None],
    dry_run: bool,
    keys: migrate.AirflowFernet,
    skip_conflicts: bool = False,
) -> None:
    from hookline import airflow_migrate as migrate

    started = time.perf_counter()
    source = migrate.redacted_url(url)
    try:
        plan, target = plan_of()
        _report_plan(plan, source, keys.describe(), dry_run, target)
        if not skip_conflicts:
            migrate.check_plan(plan)
    except AirflowMigrationError as exc:
        raise _fail(exc) from None
    if dry_run:
        return
    counts = plan.counts()
    if plan.to_write:
        with common.progress(f"Importing {kind}s", total=len(plan.to_write)) as update:
            write(plan)
            update(len(plan.to_write))
        common.invalidate()
    elapsed = time.perf_counter() - started
    total = len(plan.entries)
    _print(
        [
            f"Imported {len(plan.to_write)} of {total} Airflow {kind}{'' if total == 1 else 's'} "
            f"from {source} into {target} ({counts['add']} added, {counts['change']} replaced, "
            f"{counts['unchanged']} unchanged"
            + (f", {counts['conflict']} skipped" if counts["conflict"] else "")
            + f") in {elapsed:.2f} s"
        ]
    )


def import_connections(
    url: str, fernet_key: str | None, *, overwrite: bool, dry_run: bool, ignore_teams: bool
) -> None:
    """Migrate every connection of the Airflow database at ``url`` into the writable backend."""
    from hookline import airflow_migrate as migrate

    keys = migrate.airflow_fernet(fernet_key)
    read: list[Connection] = []

    def plan_of() -> tuple[migrate.MigrationPlan, str]:
        read.extend(migrate.read_connections(url, keys, ignore_teams=ignore_teams))
        for conn in read:
            common.register_secrets(conn)
        backend = common.writable_backend()
        return migrate.plan_connections(read, backend, overwrite=overwrite), backend.name

    def write(plan: migrate.MigrationPlan) -> None:
        wanted = set(plan.to_write)
        conns = [conn for conn in read if conn.conn_id in wanted]
        common.chain().set_connections(conns, overwrite=bool(plan.names("change")))

    _run("connection", url, plan_of, write, dry_run, keys)


def import_variables(
    url: str,
    fernet_key: str | None,
    *,
    overwrite: bool,
    skip: bool,
    dry_run: bool,
    ignore_teams: bool,
) -> None:
    """Migrate every variable of the Airflow database at ``url`` into the backend that stores
    variables, in one ``set_variables`` call (one transaction on the metastore). With ``skip``,
    keys held with other values are left as they are."""
    from hookline import airflow_migrate as migrate

    keys = migrate.airflow_fernet(fernet_key)
    read: list[migrate.AirflowVariable] = []

    def plan_of() -> tuple[migrate.MigrationPlan, str]:
        read.extend(migrate.read_variables(url, keys, ignore_teams=ignore_teams))
        backend = common.chain().variable_writable_backend()
        lookup: Callable[[str], str | None] = backend.get_variable
        if backend.variables_listable:
            # one query instead of one per key; on an unreadable row, ask key by key
            with contextlib.suppress(HooklineError):
                stored = dict(backend.list_variables())
                lookup = stored.get
        plan = migrate.plan_variables(read, lookup, overwrite=overwrite)
        return plan, backend.name

    def write(plan: migrate.MigrationPlan) -> None:
        wanted = set(plan.to_write)
        items = [(v.key, v.value) for v in read if v.key in wanted]
        common.chain().set_variables(items, overwrite=bool(plan.names("change")))

    _run("variable", url, plan_of, write, dry_run, keys, skip_conflicts=skip)
    described = [v.key for v in read if v.description]
    if described and not dry_run:
        render.write_text(
            common.err_console(),
            f"note: hookline keeps no descriptions; dropped those of {', '.join(described)}",
        )
