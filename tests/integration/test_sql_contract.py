"""The SQL hook contract, run unchanged over every dialect: SQLite, PostgreSQL and MariaDB.

Each test takes the ``db`` fixture (parametrized over the three; the servers are the session's
real ones from ``tests/servers``) or ``network_db`` (PostgreSQL and MariaDB: what needs a login).
Dialect differences (placeholders, a statement that runs long, how to end sessions and change a
password) live in :class:`Db`, never in the tests.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from hookline import (
    AuthenticationFailed,
    Connection,
    HookError,
    PoolTimeout,
    masking,
)
from hookline.events import Event, PoolCheckout, default_bus
from hookline.exceptions import DriverError, StatementTimeout
from hookline.hooks.sql import MySqlHook, PostgresHook, SqlHook, SqliteHook
from hookline.hooks.sql.engines import dispose_all, engine_count, shared_engines
from tests.servers.mariadb import MariaDbServer
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-S3cret!"


@dataclass
class Db:
    """One database of one dialect, fresh for the test, and what differs about it."""

    dialect: str
    hook_cls: type[SqlHook]
    conn: Connection
    placeholder: str
    long_statement: str
    server: Any = None
    table_options: str = ""

    def hook(self, **kwargs: Any) -> SqlHook:
        return self.hook_cls(self.conn, **kwargs)

    def p(self, sql: str) -> str:
        """``sql`` with ``{}`` placeholders in this dialect's style."""
        return sql.replace("{}", self.placeholder)

    def uri(self, password: str) -> str:
        """The connection as a URI with ``password`` (for ``HOOKLINE_CONN_*``)."""
        c = self.conn
        scheme = "postgres" if self.dialect == "postgres" else "mysql"
        return (
            f"{scheme}://{quote(c.login or '', safe='')}:{quote(password, safe='')}"
            f"@{c.host}:{c.port}/{c.schema}"
        )

    def set_password(self, password: str) -> None:
        login = self.conn.login
        if self.dialect == "postgres":
            self.server.execute(f"ALTER ROLE {login} PASSWORD '{password}'")
        else:
            self.server.execute(f"ALTER USER '{login}'@'%' IDENTIFIED BY '{password}'")

    def end_sessions(self, keep: int | None = None) -> None:
        """End the server sessions of this login (all but the one with id ``keep``)."""
        login = self.conn.login
        if self.dialect == "postgres":
            spare = f" and pid <> {int(keep)}" if keep is not None else ""
            self.server.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                f"where usename = '{login}'{spare}"
            )
            return
        import pymysql

        admin = pymysql.connect(
            host=self.server.host, port=self.server.port, user="root",
            password=self.server.root_password, ssl_disabled=True, autocommit=True,
        )  # fmt: skip
        try:
            with admin.cursor() as cursor:
                cursor.execute(
                    "select id from information_schema.processlist where user = %s", (login,)
                )
                for (session_id,) in cursor.fetchall():
                    if session_id != keep:
                        cursor.execute(f"KILL {int(session_id)}")
        finally:
            admin.close()

    @property
    def session_id_sql(self) -> str:
        return "select pg_backend_pid()" if self.dialect == "postgres" else "select connection_id()"


def _sqlite(tmp_path: Path, conn_id: str) -> Db:
    conn = Connection(conn_id=conn_id, conn_type="sqlite", host=str(tmp_path / "contract.db"))
    endless = (
        "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    )
    return Db("sqlite", SqliteHook, conn, "?", endless)


def _postgres(server: PostgresServer, conn_id: str) -> Db:
    name = server.unique_name("ct")
    password = "p@ss:w/rd?#" + CANARY
    server.create_database(name, owner_password=password)
    conn = Connection(
        conn_id=conn_id, conn_type="postgres", host=server.host, port=server.port,
        login=name, password=password, schema=name,
    )  # fmt: skip
    return Db("postgres", PostgresHook, conn, "%s", "select pg_sleep(5)", server)


def _mariadb(server: MariaDbServer, conn_id: str) -> Db:
    name = server.unique_name("ct")
    password = "p@ss:w/rd?#" + CANARY
    server.create_database(name, owner_password=password)
    conn = Connection(
        conn_id=conn_id, conn_type="mysql", host=server.host, port=server.port,
        login=name, password=password, schema=name,
    )  # fmt: skip
    # An interrupted BENCHMARK() returns 0 without an error; SLEEP() raises error 1969.
    return Db("mariadb", MySqlHook, conn, "%s", "select sleep(5)", server, " character set utf8mb4")


def _make(request: pytest.FixtureRequest, tmp_path: Path, dialect: str) -> Db:
    conn_id = f"contract_{dialect}"
    if dialect == "sqlite":
        return _sqlite(tmp_path, conn_id)
    if dialect == "postgres":
        return _postgres(request.getfixturevalue("postgres_server"), conn_id)
    return _mariadb(request.getfixturevalue("mariadb_server"), conn_id)


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    """A fresh database of each dialect."""
    return _make(request, tmp_path, request.param)


@pytest.fixture(params=["postgres", "mariadb"])
def network_db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    """A fresh database on each network server (a login and password to rotate)."""
    return _make(request, tmp_path, request.param)


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    unsubscribe = default_bus.subscribe(seen.append)
    yield seen
    unsubscribe()


# -- statements --------------------------------------------------------------------------------------


def test_round_trip_parameters_and_return_rules(db: Db) -> None:
    """Values are bound in the dialect's style; Airflow's return rules; descriptions are kept."""
    hook = db.hook()
    hook.run("create table items (id integer primary key, name varchar(50))")
    hook.run(db.p("insert into items values ({}, {})"), (1, "o'brien; drop table items"))
    assert hook.get_records("select id, name from items") == [(1, "o'brien; drop table items")]
    assert hook.get_first(db.p("select name from items where id = {}"), [1]) == (
        "o'brien; drop table items",
    )
    assert hook.get_first("select id from items where id = 42") is None
    assert hook.last_description[0][0] == "id"
    assert hook.run("select 1") is None
    assert hook.run(["select 1", "select 2"], handler=lambda c: c.fetchone()) == [(1,), (2,)]
    assert hook.run(
        "select 1; select 2", split_statements=True, handler=lambda c: c.fetchall()
    ) == [(2,)]
    with pytest.raises(ValueError, match="empty"):
        hook.run("  ")


def test_statements_commit_together_or_not_at_all(db: Db) -> None:
    """A list of statements is one transaction: a failing one undoes the others."""
    hook = db.hook()
    hook.run("create table t (n integer)")
    with pytest.raises(HookError) as info:
        hook.run(["insert into t values (1)", "insert into missing_table values (1)"])
    assert info.value.conn_id == db.conn.conn_id
    assert hook.get_first("select count(*) from t") == (0,)
    hook.run(["insert into t values (1)", "insert into t values (2)"])
    assert hook.get_first("select count(*) from t") == (2,)
    assert hook.pool_status()["checked_out"] == 0


def test_insert_rows_chunks_and_replace(db: Db) -> None:
    """insert_rows in chunks from a generator; replace updates the row with the same key."""
    hook = db.hook()
    hook.run("create table kv (k integer primary key, v varchar(20))")
    assert hook.insert_rows("kv", ((i, f"v{i}") for i in range(25)), ["k", "v"], 10) == 25
    replace_index = "k" if db.dialect == "postgres" else None
    hook.insert_rows("kv", [(3, "new")], ["k", "v"], replace=True, replace_index=replace_index)
    assert hook.get_first("select count(*), max(v) from kv where k = 3") == (1, "new")
    assert hook.get_first("select count(*) from kv") == (25,)


def test_dataframes_whole_and_in_chunks(db: Db) -> None:
    """get_df / get_pandas_df and get_df_by_chunks / get_pandas_df_by_chunks, pandas and polars."""
    hook = db.hook()
    hook.run("create table n (i integer)")
    hook.insert_rows("n", [(i,) for i in range(10)])
    sql = db.p("select i from n where i >= {} order by i")
    assert hook.get_df(sql, (0,))["i"].tolist() == list(range(10))
    assert hook.get_pandas_df(sql, (5,))["i"].tolist() == [5, 6, 7, 8, 9]
    chunks = list(hook.get_pandas_df_by_chunks(sql, (0,), chunksize=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    frames = list(hook.get_df_by_chunks(sql, (0,), chunksize=6, df_type="polars"))
    assert [f["i"].to_list() for f in frames] == [list(range(6)), [6, 7, 8, 9]]
    assert hook.get_df(sql, (8,), df_type="polars")["i"].to_list() == [8, 9]
    with pytest.raises(ValueError, match="chunksize"):
        hook.get_df_by_chunks(sql, chunksize=0)
    assert hook.pool_status()["checked_out"] == 0


BULK_ROWS = [
    (1, "plain", "x"),
    (2, "tab\there", None),
    (3, "new\nline and back\\slash", "\u00e9t\u00e9 \u2603"),
]
BULK_TEXT = (
    "1\tplain\tx\n2\ttab\\there\t\\N\n3\tnew\\nline and back\\\\slash\t\u00e9t\u00e9 \u2603\n"
)


def test_bulk_dump_and_load_share_one_file_format(db: Db, tmp_path: Path) -> None:
    """bulk_dump writes PostgreSQL's COPY text format on every dialect (the same bytes), and
    bulk_load reads it back in one transaction; a failed load loads nothing."""
    hook = db.hook()
    hook.run(
        "create table b (id integer primary key, name varchar(50), note varchar(50))"
        + db.table_options
    )
    hook.insert_rows("b", BULK_ROWS)
    dump = tmp_path / "b.tsv"
    hook.bulk_dump("b", dump)
    assert dump.read_text(encoding="utf-8") == BULK_TEXT
    hook.run("delete from b")
    hook.bulk_load("b", dump)
    assert hook.get_records("select id, name, note from b order by id") == BULK_ROWS
    bad = tmp_path / "bad.tsv"
    bad.write_text("10\tok\tx\n1\tduplicate key\tx\n", encoding="utf-8")
    with pytest.raises(HookError):
        hook.bulk_load("b", bad)
    assert hook.get_first("select count(*) from b") == (3,)
    with pytest.raises(HookError, match="no file to load"):
        hook.bulk_load("b", tmp_path / "missing.tsv")
    assert not (tmp_path / "missing.tsv").exists()
    with pytest.raises(HookError, match="invalid table name"):
        hook.bulk_dump("b; drop table b", dump)


def test_statement_timeout_cancels_a_long_statement(db: Db) -> None:
    """statement_timeout_s (argument or extra) cancels a statement with StatementTimeout; the
    pool stays usable."""
    hook = db.hook(statement_timeout_s=0.5)
    with pytest.raises(StatementTimeout, match=r"statement_timeout_s=0\.5") as info:
        hook.get_first(db.long_statement)
    assert info.value.conn_id == db.conn.conn_id
    assert hook.get_first("select 1") == (1,)
    from_extra = db.hook_cls(db.conn.replace(extra={"statement_timeout_s": "0.5"}))
    assert from_extra.pool_options.statement_timeout_s == 0.5
    with pytest.raises(StatementTimeout):
        from_extra.get_first(db.long_statement)


# -- secrets ---------------------------------------------------------------------------------------


def test_driver_text_quoting_a_secret_parameter_never_reaches_a_traceback(db: Db) -> None:
    """A bound parameter holding a registered secret, quoted back by the driver's error (a
    duplicate key): neither the hook error, nor its chained cause, nor the formatted traceback
    shows it. The cause is a masked DriverError standing in for the driver's exception."""
    masking.register(CANARY)
    hook = db.hook()
    hook.run("create table s (k varchar(50) primary key)")
    hook.run(db.p("insert into s values ({})"), (CANARY,))
    with pytest.raises(HookError) as info:
        hook.run(db.p("insert into s values ({})"), (CANARY,))
    error = info.value
    rendered = "".join(traceback.format_exception(error))
    assert CANARY not in rendered
    assert CANARY not in str(error)
    assert CANARY not in repr(error)
    assert isinstance(error.__cause__, DriverError)
    assert error.__cause__.driver_type
    assert CANARY not in str(error.__cause__.args)
    if db.dialect != "sqlite":  # SQLite does not quote the value
        assert masking.REDACTED in rendered


def test_engines_hold_no_password(db: Db) -> None:
    """The shared engine's URL, repr, key and spec hold no password (and no login)."""
    hook = db.hook()
    assert hook.get_first("select 1") == (1,)
    (shared,) = shared_engines(db.conn.conn_id)
    for text_ in (
        shared.engine.url.render_as_string(hide_password=False),
        repr(shared.engine),
        repr(shared),
        repr(shared.spec),
        repr(shared.engine.pool),
    ):
        assert CANARY not in text_
        if db.conn.login:
            assert f"{db.conn.login}@" not in text_


def test_get_uri_is_accepted_by_sqlalchemy(db: Db) -> None:
    """get_uri() is a URL create_engine accepts, credentials included (Airflow's form)."""
    engine = create_engine(db.hook().get_uri())
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
    finally:
        engine.dispose()


# -- pool ------------------------------------------------------------------------------------------


def test_parked_connections_never_exhaust_the_pool(db: Db) -> None:
    """pool_size=1, max_overflow=0: after a hook call parks its connection, the engine's other
    users still get it at once; a real second checkout times out with PoolTimeout."""
    if db.dialect == "sqlite" and db.conn.host is None:
        raise AssertionError("the SQLite contract database is a file")
    hook = db.hook(pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    assert hook.get_first("select 1") == (1,)
    engine = hook.get_sqlalchemy_engine()
    with engine.connect() as conn:
        assert conn.execute(text("select 2")).scalar() == 2
        with pytest.raises(PoolTimeout, match="pool_size=1") as info:
            hook.get_first("select 3")
        assert info.value.conn_id == db.conn.conn_id
    assert hook.get_first("select 4") == (4,)
    assert hook.pool_status()["checked_out"] == 0


def test_pool_checkout_events_when_listening(db: Db, events: list[Event]) -> None:
    """With a listener subscribed, each checkout (parked or from the pool) emits PoolCheckout."""
    hook = db.hook()
    for _ in range(3):
        hook.get_first("select 1")
    with hook:
        hook.get_conn()
    checkouts = [e for e in events if isinstance(e, PoolCheckout)]
    assert len(checkouts) == 4
    assert {e.conn_id for e in checkouts} == {db.conn.conn_id}
    assert all(e.wait_s >= 0 and e.size >= 1 for e in checkouts)
    assert CANARY not in repr(checkouts)


def test_test_connection(db: Db) -> None:
    """test_connection answers with Airflow's text (on an existing database: a SQLite test opens
    the file read-only and creates nothing)."""
    hook = db.hook()
    hook.run("create table present (n integer)")
    assert hook.test_connection() == (True, "Connection successfully tested")


# -- credentials -----------------------------------------------------------------------------------


def test_wrong_password_is_authentication_failed_without_the_secret(network_db: Db) -> None:
    """A wrong password: AuthenticationFailed (after one refresh attempt), no secret anywhere."""
    db = network_db
    hook = db.hook_cls(db.conn.replace(password="wrong-" + CANARY))
    with pytest.raises(AuthenticationFailed) as info:
        hook.get_first("select 1")
    rendered = "".join(traceback.format_exception(info.value))
    assert CANARY not in rendered
    ok, message = hook.test_connection()
    assert not ok
    assert CANARY not in message


def test_rotation_renews_the_shared_engine_softly(
    network_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password changes under a running pool: a connection checked out before the change
    finishes its work; the next call fails authentication once, refreshes, and the engine's
    generation rises; the old connection, once returned, is replaced at its next checkout."""
    db = network_db
    env = "HOOKLINE_CONN_" + db.conn.conn_id.upper()  # type: ignore[union-attr]
    monkeypatch.setenv(env, db.uri(db.conn.password or ""))
    holder = db.hook_cls(db.conn.conn_id, pool_size=2)
    raw = holder.get_conn()
    cursor = raw.cursor()
    cursor.execute(db.session_id_sql)
    (held_session,) = cursor.fetchone()
    cursor.close()

    new_password = "rotated:" + CANARY[::-1]
    db.set_password(new_password)
    db.end_sessions(keep=held_session)
    monkeypatch.setenv(env, db.uri(new_password))

    hook = db.hook_cls(db.conn.conn_id, pool_size=2)
    assert hook.get_first("select 1") == (1,)
    assert hook.refresh_count == 1
    assert engine_count(db.conn.conn_id) == 1
    (shared,) = shared_engines(db.conn.conn_id)
    assert shared.generation == 1

    cursor = raw.cursor()  # checked out before the rotation: still works
    cursor.execute("select 7")
    assert cursor.fetchone() == (7,)
    cursor.close()
    holder.close()
    with holder:
        raw = holder.get_conn()
        cursor = raw.cursor()
        cursor.execute(db.session_id_sql)
        (session,) = cursor.fetchone()
        cursor.close()
    assert session != held_session
    assert holder.refresh_count == 0
