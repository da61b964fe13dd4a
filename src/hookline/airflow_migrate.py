"""Migration from an Apache Airflow metadata database: read its connections and variables.

Airflow keeps connections in its ``connection`` table and variables in its ``variable`` table, the
password, the extra and the variable value Fernet-encrypted when a key was configured (flags
``is_encrypted``/``is_extra_encrypted``). This module reads those tables with SQLAlchemy (never
importing Airflow), from SQLite or PostgreSQL databases of Airflow 2.x and 3.x: it looks at the
columns each table has (``description``, the encryption flags and 3.x's ``team_name`` are optional)
rather than at a version number. Values are decrypted with Airflow's Fernet key list (comma-
separated: the first key wrote, any key reads, as Airflow's MultiFernet), found in this order: the
explicit argument, ``AIRFLOW__CORE__FERNET_KEY``, ``[core] fernet_key`` of the ``airflow.cfg`` named
by ``AIRFLOW_CONFIG`` or found in ``$AIRFLOW_HOME``.

:func:`plan_connections` and :func:`plan_variables` compare what was read with what hookline holds
(added, changed, unchanged, conflicting), so a dry run can list the changes without writing; the
caller writes the plan's rows in one transaction (``set_connections`` on the metastore). The
database is opened read-only (SQLite ``mode=ro``, PostgreSQL ``default_transaction_read_only``).

Errors are typed and hold no secret: a key that decrypts nothing is a
:class:`~hookline.exceptions.DecryptionError` naming the connection (or variable) that could not be
read; an unreachable database, a file that is not an Airflow database, or an unknown layout is an
:class:`~hookline.exceptions.AirflowDatabaseError`; rows hookline cannot represent are listed by an
:class:`~hookline.exceptions.AirflowMigrationError`.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    AirflowDatabaseError,
    AirflowMigrationError,
    ConfigurationError,
    DecryptionError,
    HooklineError,
    InvalidConnection,
    KeyNotConfigured,
    MissingDependency,
)

if TYPE_CHECKING:
    import sqlalchemy as sa
    from cryptography.fernet import MultiFernet

    from hookline.secrets.base import SecretsBackend

__all__ = [
    "AIRFLOW_FERNET_ENV",
    "Action",
    "AirflowFernet",
    "AirflowVariable",
    "MigrationPlan",
    "PlanEntry",
    "airflow_fernet",
    "open_airflow_db",
    "plan_connections",
    "plan_variables",
    "read_connections",
    "read_variables",
    "redacted_url",
]

AIRFLOW_FERNET_ENV: Final = "AIRFLOW__CORE__FERNET_KEY"
_CONNECTION_COLUMNS: Final = ("conn_id", "conn_type", "host", "schema", "login", "password", "port")
_CONNECTION_OPTIONAL: Final = ("description", "extra", "is_encrypted", "is_extra_encrypted")
_VARIABLE_COLUMNS: Final = ("key", "val")
_VARIABLE_OPTIONAL: Final = ("description", "is_encrypted")
_TEAM: Final = "team_name"
_SHOWN_IDS: Final = 10
_EXTRAS: Final = {"sqlite": "sql", "postgresql": "postgres", "mysql": "mysql"}

Action = Literal["add", "change", "unchanged", "conflict"]


# -- Fernet keys --------------------------------------------------------------------------------


class AirflowFernet:
    """Airflow's Fernet keys (MultiFernet: any key decrypts), or none.

    Args:
        keys: The keys, the one Airflow writes with first; empty when Airflow had none.
        source: Where they came from (named in messages; never the keys).

    Raises:
        ConfigurationError: a key is malformed (the message gives its position, not its text).
    """

    def __init__(self, keys: Sequence[str], source: str) -> None:
        self.source = source
        self._fernet: MultiFernet | None = None
        self.fingerprints: tuple[str, ...] = ()
        if not keys:
            return
        from cryptography.fernet import Fernet, MultiFernet

        from hookline.secrets.metastore.keys import fingerprint

        fernets = []
        for index, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise ConfigurationError(
                    f"Airflow Fernet key #{index} of {len(keys)} (from {source}) is malformed: a "
                    "key is 32 url-safe base64-encoded bytes (44 characters)"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.fingerprints = tuple(fingerprint(k) for k in keys)

    @property
    def configured(self) -> bool:
        """Whether any key was given."""
        return self._fernet is not None

    def decrypt(self, token: str, what: str) -> str:
        """Decrypt ``token`` (``what`` names it in errors, e.g. "the password of connection 'x'").

        Raises:
            KeyNotConfigured: no key was given.
            DecryptionError: no key decrypts it.
        """
        if self._fernet is None:
            raise KeyNotConfigured(
                f"{what} is encrypted in the Airflow database and no Airflow Fernet key was given: "
                f"pass --airflow-fernet-key (or set {AIRFLOW_FERNET_ENV}) to that Airflow's "
                "[core] fernet_key"
            )
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptionError(
                f"cannot decrypt {what}: none of the Airflow Fernet keys given (fingerprints "
                f"{', '.join(self.fingerprints)}, from {self.source}) matches it; give that "
                "Airflow's [core] fernet_key (comma-separated when it holds several)",
                key_ids=self.fingerprints,
            ) from None

    def describe(self) -> str:
        """One line for output: how many keys, from where (never the keys)."""
        if self._fernet is None:
            return "no Airflow Fernet key"
        count = len(self.fingerprints)
        return f"{count} Airflow Fernet key{'s' if count != 1 else ''} from {self.source}"

    def __repr__(self) -> str:
        return f"AirflowFernet(fingerprints={list(self.fingerprints)!r}, source={self.source!r})"


def _split_keys(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _cfg_path(environ: Mapping[str, str]) -> Path | None:
    if environ.get("AIRFLOW_CONFIG"):
        return Path(environ["AIRFLOW_CONFIG"])
    if environ.get("AIRFLOW_HOME"):
        return Path(environ["AIRFLOW_HOME"]) / "airflow.cfg"
    return None


def airflow_fernet(
    explicit: str | None = None, *, environ: Mapping[str, str] | None = None
) -> AirflowFernet:
    """Airflow's Fernet keys: ``explicit``, else ``AIRFLOW__CORE__FERNET_KEY``, else the
    ``[core] fernet_key`` of ``$AIRFLOW_CONFIG`` or ``$AIRFLOW_HOME/airflow.cfg``; none when none
    of them holds a key (an Airflow without a key stored its rows in plaintext).

    Raises:
        ConfigurationError: a key is malformed, or the airflow.cfg cannot be parsed.
    """
    env = os.environ if environ is None else environ
    if explicit is not None and explicit.strip():
        return AirflowFernet(_split_keys(explicit), "--airflow-fernet-key")
    if env.get(AIRFLOW_FERNET_ENV, "").strip():
        return AirflowFernet(_split_keys(env[AIRFLOW_FERNET_ENV]), AIRFLOW_FERNET_ENV)
    path = _cfg_path(env)
    if path is not None and path.is_file():
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeError) as exc:
            raise ConfigurationError(
                f"cannot read [core] fernet_key from {path}: {type(exc).__name__}"
            ) from None
        value = parser.get("core", "fernet_key", fallback="")
        if value.strip():
            return AirflowFernet(_split_keys(value), f"{path} [core] fernet_key")
    return AirflowFernet([], "nowhere")


# -- the database -------------------------------------------------------------------------------


def redacted_url(url: str) -> str:
    """``url`` with its password as ``***`` (for messages); the text itself when it is no URL."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<not a database URL>"


def _register_url_secrets(parsed: sa.URL) -> None:
    if isinstance(parsed.password, str):
        masking.register(parsed.password)
    for key, value in parsed.query.items():
        if masking.is_sensitive_key(key):
            for item in (value,) if isinstance(value, str) else value:
                masking.register(item)


def open_airflow_db(url: str) -> sa.Engine:
    """A read-only engine on the Airflow metadata database at ``url`` (not connected yet).

    SQLite files must exist (they are opened ``mode=ro``: never created, never written);
    ``postgresql://`` and ``postgres://`` use psycopg 3 (hookline's PostgreSQL driver) unless the URL
    names a driver.

    Raises:
        AirflowDatabaseError: not a database URL, an in-memory or missing SQLite file.
        MissingDependency: the URL's driver is not installed.
    """
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # the message would quote the URL: not shown
        raise AirflowDatabaseError(
            "the Airflow database URL is not a SQLAlchemy URL (e.g. sqlite:////path/airflow.db "
            "or postgresql://user:password@host/airflow)",
            url="<not a database URL>",
        ) from None
    _register_url_secrets(parsed)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in {"", ":memory:"} or "mode=memory" in database:
            raise AirflowDatabaseError("the Airflow database URL names no SQLite file", url=shown)
        path = Path(database)
        if not path.is_file():
            raise AirflowDatabaseError(
                f"the Airflow database {path} does not exist (or is not a file)", url=shown
            )
        import sqlite3
        from urllib.parse import quote

        target = f"file:{quote(str(path.resolve()))}?mode=ro"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(target, uri=True, timeout=30, check_same_thread=False)

        return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)
    if backend not in _EXTRAS:
        raise AirflowDatabaseError(
            f"the Airflow database URL names {backend!r}; hookline reads Airflow databases on "
            "SQLite, PostgreSQL and MySQL",
            url=shown,
        )
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "mysql":
        parsed = parsed.set(drivername="mysql+pymysql")
    kwargs: dict[str, Any] = {"poolclass": sa.pool.NullPool}
    if backend == "postgresql":
        kwargs["connect_args"] = {
            "connect_timeout": 10,
            "options": "-c default_transaction_read_only=on",
        }
    try:
        return sa.create_engine(parsed, **kwargs)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        driver = exc.name if isinstance(exc, ImportError) and exc.name else parsed.drivername
        raise MissingDependency(
            driver, _EXTRAS[backend], purpose="reading the Airflow database"
        ) from None


def _db_error(exc: BaseException, url: str, action: str) -> AirflowDatabaseError:
    """A typed error for a driver failure; its text is masked (the URL password is registered)."""
    import sqlalchemy as sa

    reason = type(exc).__name__
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        orig = exc.orig
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        reason = f"{type(orig).__name__}: {masking.redact(first)}" if first else type(orig).__name__
    return AirflowDatabaseError(f"cannot {action} the Airflow database {url}: {reason}", url=url)


def _columns(db: sa.Connection, table: str, url: str, required: Sequence[str]) -> set[str]:
    import sqlalchemy as sa

    inspector = sa.inspect(db)
    if not inspector.has_table(table):
        raise AirflowDatabaseError(
            f"the database {url} has no {table!r} table: it is not an Airflow metadata database, "
            "or it was never migrated (airflow db migrate)",
            url=url,
        )
    names = {column["name"] for column in inspector.get_columns(table)}
    missing = [name for name in required if name not in names]
    if missing:
        raise AirflowDatabaseError(
            f"the {table!r} table of {url} has no column(s) {', '.join(missing)}: not a layout "
            "of Airflow 2.x or 3.x",
            url=url,
        )
    return names


def _read(url: str, table: str, required: Sequence[str], optional: Sequence[str]) -> tuple[
    list[dict[str, Any]], set[str]
]:  # fmt: skip
    import sqlalchemy as sa

    engine = open_airflow_db(url)
    shown = redacted_url(url)
    try:
        with engine.connect() as db:
            names = _columns(db, table, shown, required)
            wanted = [*required, *(c for c in (*optional, _TEAM) if c in names)]
            columns: list[sa.ColumnClause[Any]] = [sa.column(c) for c in wanted]
            query = sa.select(*columns).select_from(sa.table(table)).order_by(columns[0])
            rows = [dict(row._mapping) for row in db.execute(query)]
    except HooklineError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise _db_error(exc, shown, f"read the {table!r} table of") from None
    finally:
        engine.dispose()
    return rows, names


# -- connections --------------------------------------------------------------------------------


def _decrypt_all(
    rows: Iterable[dict[str, Any]],
    fernet: AirflowFernet,
    fields: Sequence[tuple[str, str, str]],
    name_of: Callable[[dict[str, Any]], str],
    id_column: str,
) -> None:
    """Decrypt each flagged field in place; one error naming the first row and counting the rest.

    ``fields`` holds ``(column, flag column, description)``; ``name_of`` names a row for messages,
    ``id_column`` holds its id.
    """
    failed: list[str] = []
    first_id: str | None = None
    first: HooklineError | None = None
    for row in rows:
        for column, flag, what in fields:
            value = row.get(column)
            if not value or not row.get(flag):
                continue
            try:
                row[column] = fernet.decrypt(str(value), f"the {what} of {name_of(row)}")
            except (DecryptionError, KeyNotConfigured) as exc:
                if first is None:
                    first = exc
                    first_id = str(row[id_column]) if id_column == "conn_id" else None
                if not failed or failed[-1] != str(row[id_column]):
                    failed.append(str(row[id_column]))
    if first is None:
        return
    more = len(failed) - 1
    if more:
        shown = ", ".join(failed[1 : 1 + _SHOWN_IDS]) + (", ..." if more > _SHOWN_IDS else "")
        message = f"{first} ({more} more row(s) cannot be decrypted either: {shown})"
    else:
        message = str(first)
    if isinstance(first, KeyNotConfigured):
        raise KeyNotConfigured(message)
    raise DecryptionError(message, conn_id=first_id, key_ids=fernet.fingerprints)


def _team_problems(rows: Iterable[dict[str, Any]], name: str, kind: str) -> list[str]:
    return [
        f"{kind} {row[name]!r} belongs to Airflow team {row[_TEAM]!r}; hookline has no teams "
        "(pass --ignore-teams to import it for everyone)"
        for row in rows
        if row.get(_TEAM)
    ]


def read_connections(
    url: str, fernet: AirflowFernet, *, ignore_teams: bool = False
) -> list[Connection]:
    """Every connection of the Airflow database at ``url``, decrypted, sorted by conn_id.

    All or nothing: when any row cannot be decrypted or represented, nothing is returned.

    Raises:
        AirflowDatabaseError: the database cannot be read (see :func:`open_airflow_db`).
        DecryptionError: the keys decrypt not every encrypted field; names the first connection
            and counts the others.
        KeyNotConfigured: a field is encrypted and no key was given.
        AirflowMigrationError: rows that are no valid hookline connection (a non-JSON or non-object
            extra, an invalid conn_id or conn_type), or team-scoped rows without ``ignore_teams``;
            lists every one.
    """
    rows, _ = _read(url, "connection", _CONNECTION_COLUMNS, _CONNECTION_OPTIONAL)
    _decrypt_all(
        rows,
        fernet,
        (("password", "is_encrypted", "password"), ("extra", "is_extra_encrypted", "extra")),
        lambda row: f"Airflow connection {row['conn_id']!r}",
        "conn_id",
    )
    problems = [] if ignore_teams else _team_problems(rows, "conn_id", "connection")
    conns: list[Connection] = []
    for row in rows:
        conn_id = row["conn_id"]
        try:
            conns.append(
                Connection(
                    conn_id=conn_id,
                    conn_type=row["conn_type"] or None,
                    description=row.get("description"),
                    host=row["host"],
                    login=row["login"],
                    password=row["password"],
                    schema=row["schema"],
                    port=row["port"],
                    extra=row.get("extra"),
                )
            )
        except InvalidConnection as exc:
            problems.append(f"connection {conn_id!r}: {exc}")
    if problems:
        raise AirflowMigrationError(
            f"{len(problems)} Airflow connection(s) cannot be imported; nothing was imported",
            problems,
        )
    return conns


# -- variables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AirflowVariable:
    """One Airflow variable; its repr never shows the value."""

    key: str
    value: str = field(repr=False)
    description: str | None = None


def read_variables(
    url: str, fernet: AirflowFernet, *, ignore_teams: bool = False
) -> list[AirflowVariable]:
    """Every variable of the Airflow database at ``url``, decrypted, sorted by key.

    Values whose key looks sensitive are registered for masking. All or nothing, as
    :func:`read_connections` (same errors).
    """
    rows, _ = _read(url, "variable", _VARIABLE_COLUMNS, _VARIABLE_OPTIONAL)
    _decrypt_all(
        rows,
        fernet,
        (("val", "is_encrypted", "value"),),
        lambda row: f"Airflow variable {row['key']!r}",
        "key",
    )
    problems = [] if ignore_teams else _team_problems(rows, "key", "variable")
    variables: list[AirflowVariable] = []
    for row in rows:
        key, value = row["key"], row["val"]
        if not key:
            problems.append("a variable with an empty key")
            continue
        if value is None:
            problems.append(f"variable {key!r} has no value (NULL)")
            continue
        if masking.is_sensitive_key(key):
            masking.register(str(value))
        variables.append(AirflowVariable(str(key), str(value), row.get("description")))
    if problems:
        raise AirflowMigrationError(
            f"{len(problems)} Airflow variable(s) cannot be imported; nothing was imported",
            problems,
        )
    return variables


# -- plans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanEntry:
    """What a migration does with one id: ``add``, ``change``, ``unchanged`` or ``conflict``.

    ``fields`` names the fields that differ (for a change or a conflict); never their values.
    """

    name: str
    action: Action
    fields: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class MigrationPlan:
    """The plan of a migration: one entry per id read from Airflow, in id order."""

    kind: Literal["connection", "variable"]
    entries: tuple[PlanEntry, ...]

    def names(self, action: Action) -> list[str]:
        """The ids with ``action``."""
        return [entry.name for entry in self.entries if entry.action == action]

    @property
    def to_write(self) -> list[str]:
        """The ids a migration writes (added and changed)."""
        return [e.name for e in self.entries if e.action in ("add", "change")]

    def counts(self) -> dict[str, int]:
        """How many entries per action."""
        result = {"add": 0, "change": 0, "unchanged": 0, "conflict": 0}
        for entry in self.entries:
            result[entry.action] += 1
        return result

    def lines(self) -> list[str]:
        """One line per entry (``action  id  summary (changed fields)``), no secret."""
        width = max((len(e.name) for e in self.entries), default=0)
        out = []
        for entry in self.entries:
            detail = entry.summary
            if entry.fields:
                detail += (
                    f" ({', '.join(entry.fields)} differ{'s' if len(entry.fields) == 1 else ''})"
                )
            out.append(f"  {entry.action:<9}  {entry.name:<{width}}  {detail}".rstrip())
        return out


_COMPARED: Final = ("conn_type", "description", "host", "login", "password", "schema", "port")


def _differences(old: Connection, new: Connection) -> tuple[str, ...]:
    fields = [name for name in _COMPARED if getattr(old, name) != getattr(new, name)]
    if old.extra_dejson != new.extra_dejson:
        fields.append("extra")
    return tuple(fields)


def _summary(conn: Connection) -> str:
    parts = [conn.conn_type or "(no type)"]
    if conn.host:
        parts.append(conn.to_dict(redact=True)["host"])
    return " ".join(parts)


def plan_connections(
    conns: Sequence[Connection], backend: SecretsBackend, *, overwrite: bool
) -> MigrationPlan:
    """Compare ``conns`` with what ``backend`` holds.

    An id the backend lacks is added; one it holds with the same fields is unchanged (not
    written); one it holds with other values (or cannot decrypt) is changed with ``overwrite``,
    else a conflict.
    """
    entries = []
    for conn in sorted(conns, key=lambda c: c.conn_id or ""):
        conn_id = str(conn.conn_id)
        try:
            old = backend.get_connection(conn_id)
            fields = _differences(old, conn) if old is not None else ()
        except DecryptionError:
            old, fields = conn, ("unreadable with hookline's key",)
        if old is None:
            action: Action = "add"
        elif not fields:
            action = "unchanged"
        else:
            action = "change" if overwrite else "conflict"
        entries.append(PlanEntry(conn_id, action, fields, _summary(conn)))
    return MigrationPlan("connection", tuple(entries))


def plan_variables(
    variables: Sequence[AirflowVariable],
    existing: Callable[[str], str | None],
    *,
    overwrite: bool,
) -> MigrationPlan:
    """Compare ``variables`` with ``existing(key)`` (the stored value, None when absent); the
    same actions as :func:`plan_connections`. Entries never show a value."""
    entries = []
    for variable in sorted(variables, key=lambda v: v.key):
        old = existing(variable.key)
        if old is None:
            action: Action = "add"
        elif old == variable.value:
            action = "unchanged"
        else:
            action = "change" if overwrite else "conflict"
        fields = ("value",) if action in ("change", "conflict") else ()
        entries.append(PlanEntry(variable.key, action, fields))
    return MigrationPlan("variable", tuple(entries))


def check_plan(plan: MigrationPlan) -> None:
    """Raise when the plan has conflicts (existing ids with other values and no overwrite).

    Raises:
        AirflowMigrationError: lists every conflicting id and the fields that differ.
    """
    conflicts = [e for e in plan.entries if e.action == "conflict"]
    if conflicts:
        raise AirflowMigrationError(
            f"{len(conflicts)} {plan.kind}(s) already exist in hookline with other values; "
            "use --overwrite to replace them. Nothing was imported",
            [
                f"{e.name}: {', '.join(e.fields)} differ{'s' if len(e.fields) == 1 else ''}"
                for e in conflicts
            ],
        )
