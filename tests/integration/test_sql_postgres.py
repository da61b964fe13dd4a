"""PostgresHook against a real PostgreSQL server: round trips, errors, pool limits, engine sharing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import AuthenticationFailed, Connection, HookConnectionError, HookError, PoolTimeout
from hookline.hooks.sql import PostgresHook, SqlHook, fetch_all_handler
from hookline.hooks.sql.engines import dispose_all, engine_count
from tests.servers._proc import free_port
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-S3cret!"


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def app_db(postgres_server: PostgresServer) -> tuple[str, str]:
    """A fresh database owned by a login role of the same name; its password has URL-special chars."""
    name = postgres_server.unique_name("pgh")
    password = "p@ss:w/rd?#%&=x" + CANARY
    postgres_server.create_database(name, owner_password=password)
    return name, password


def _conn(
    server: PostgresServer, name: str, password: str, conn_id: str = "pgdb", **extra: object
) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="postgres",
        host=server.host,
        port=server.port,
        login=name,
        password=password,
        schema=name,
        extra=extra or None,
    )


def test_round_trip_and_parameter_styles(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """%s and %(name)s bind values; a literal % works without parameters; the special-character
    password needs no quoting because the URL is built from fields."""
    name, password = app_db
    with PostgresHook(_conn(postgres_server, name, password)) as hook:
        hook.run("create table users (id int primary key, name text)")
        rows = [(1, "ann"), (2, "bob"), (3, "o'brien; drop table users")]
        assert hook.insert_rows("users", rows, ["id", "name"], commit_every=2) == 3
        assert hook.get_records("select name from users where id = %s", (3,)) == [
            ("o'brien; drop table users",)
        ]
        assert hook.get_first("select count(*) from users where id > %(min)s", {"min": 1}) == (2,)
        assert hook.get_first("select '100%'") == ("100%",)
        assert hook.test_connection() == (True, "Connection successfully tested")
        assert hook.dialect_name == "postgresql"
        hook.run("insert into users values (%s, %s)", (4, "dan"))
        other = PostgresHook(_conn(postgres_server, name, password, conn_id="pg_other"))
        assert other.get_first("select name from users where id = 4") == ("dan",)
        assert hook.get_first("select 1") == (1,)
        assert hook.last_description is not None
        assert hook.last_description[0].name == "?column?"


def test_split_statements_with_dollar_quotes_and_return_rules(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """Semicolons inside $$ bodies and strings do not split; Airflow's return rules hold."""
    name, password = app_db
    hook = PostgresHook(_conn(postgres_server, name, password))
    script = """
        -- a function whose body holds semicolons
        create function twice(x int) returns int language plpgsql as $$
        begin
            return x * 2; -- inline comment
        end;
        $$;
        select twice(21);
        select 'a;b'
    """
    assert hook.run(script, split_statements=True, handler=fetch_all_handler) == [("a;b",)]
    with pytest.raises(HookError, match="returned no rows"):
        hook.run("create table t (x int)", handler=lambda cur: cur.fetchall())
    assert hook.run(
        "select twice(1); select twice(2)",
        split_statements=True,
        return_last=False,
        handler=lambda cur: cur.fetchone(),
    ) == [(2,), (4,)]
    assert hook.run(["select 1", "select 2"], handler=lambda cur: cur.fetchone()) == [(1,), (2,)]
    assert hook.run("select 1") is None
    with pytest.raises(ValueError, match="List of SQL statements is empty"):
        hook.run("  ;  ", split_statements=True)


def test_insert_rows_replace_uses_on_conflict(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """replace=True with replace_index upserts; the reserved word 'order' is quoted."""
    name, password = app_db
    hook = PostgresHook(_conn(postgres_server, name, password))
    hook.run('create table "order" (id int primary key, qty int)')
    hook.insert_rows("order", [(1, 5), (2, 6)], ["id", "qty"])
    hook.insert_rows("order", [(1, 50), (3, 7)], ["id", "qty"], replace=True, replace_index="id")
    assert hook.get_records('select id, qty from "order" order by id') == [(1, 50), (2, 6), (3, 7)]
    with pytest.raises(HookError, match="invalid table name"):
        hook.insert_rows("order; drop table x", [(1, 1)])


def test_get_df_returns_pandas_frame(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """get_df binds parameters and returns a pandas DataFrame with the column names."""
    name, password = app_db
    hook = PostgresHook(_conn(postgres_server, name, password))
    df = hook.get_df("select g as n, g * 2 as twice from generate_series(1, %s) g", (3,))
    assert list(df.columns) == ["n", "twice"]
    assert df["twice"].tolist() == [2, 4, 6]


def test_generic_sql_hook_follows_conn_type(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """SqlHook picks the PostgreSQL dialect from conn_type; Connection.get_hook builds a PostgresHook."""
    name, password = app_db
    conn = _conn(postgres_server, name, password)
    assert SqlHook(conn).get_first("select current_database()") == (name,)
    hook = conn.get_hook()
    assert isinstance(hook, PostgresHook)
    assert hook.get_first("select current_user") == (name,)


def test_hooks_share_one_engine_per_connection(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """Two hooks of one connection share the engine. A Connection with a new password renews that
    engine: the pooled session opened with the old password is replaced at its next checkout (a new
    backend pid), and the engine never holds the password."""
    name, password = app_db
    conn = _conn(postgres_server, name, password, conn_id="pg_shared")
    first, second = PostgresHook(conn), PostgresHook(conn)
    assert first.get_sqlalchemy_engine() is second.get_sqlalchemy_engine()
    (before,) = first.get_first("select pg_backend_pid()")
    assert first.get_first("select pg_backend_pid()") == (before,)
    assert engine_count("pg_shared") == 1
    postgres_server.execute(f"ALTER ROLE {name} PASSWORD '{password}-new'")
    third = PostgresHook(conn.replace(password=password + "-new"))
    assert third.get_sqlalchemy_engine() is first.get_sqlalchemy_engine()
    (after,) = third.get_first("select pg_backend_pid()")
    assert after != before
    assert first.get_first("select 2") == (2,)
    assert engine_count("pg_shared") == 1
    engine = third.get_sqlalchemy_engine()
    for text in (repr(engine), engine.url.render_as_string(hide_password=False)):
        assert CANARY not in text
        assert f"{name}@" not in text


def test_bad_password_raises_authentication_failed(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """psycopg's "password authentication failed" becomes AuthenticationFailed, without the secret."""
    name, _ = app_db
    hook = PostgresHook(_conn(postgres_server, name, CANARY, conn_id="pg_bad"))
    with pytest.raises(AuthenticationFailed) as info:
        hook.get_first("select 1")
    message = str(info.value)
    assert info.value.conn_id == "pg_bad"
    assert "password authentication failed" in message
    assert f"postgresql+psycopg://{name}:***@127.0.0.1" in message
    assert CANARY not in message
    ok, text = hook.test_connection()
    assert not ok
    assert CANARY not in text


def test_database_down_raises_hook_connection_error() -> None:
    """Nothing listening on the port: HookConnectionError within the connect timeout."""
    conn = Connection(
        conn_id="pg_down", conn_type="postgres", host="127.0.0.1", port=free_port(),
        login="app", password=CANARY, schema="db",
    )  # fmt: skip
    with pytest.raises(HookConnectionError) as info:
        PostgresHook(conn, connect_timeout_s=2).get_records("select 1")
    message = str(info.value)
    assert info.value.conn_id == "pg_down"
    assert "cannot connect to postgresql+psycopg://app:***@127.0.0.1" in message
    assert "connect_timeout_s=2" in message
    assert CANARY not in message


def test_silent_server_times_out_as_hook_connection_error() -> None:
    """A server that accepts TCP but never answers: HookConnectionError once the timeout passes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        conn = Connection(
            conn_id="pg_silent", conn_type="postgres", host="127.0.0.1",
            port=listener.getsockname()[1], login="app", password=CANARY,
        )  # fmt: skip
        with pytest.raises(HookConnectionError) as info:
            PostgresHook(conn, connect_timeout_s=1).get_first("select 1")
        assert CANARY not in str(info.value)
    finally:
        stop.set()
        thread.join()
        for sock in accepted:
            sock.close()
        listener.close()


def test_pool_exhausted_raises_pool_timeout(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """pool_size=1, max_overflow=0, pool_timeout_s=0.2: PoolTimeout stating all three."""
    name, password = app_db
    conn = _conn(postgres_server, name, password, conn_id="pg_pool")
    holder = PostgresHook(conn, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    held = holder.get_conn()
    assert holder.get_conn() is held
    try:
        waiting = PostgresHook(conn, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
        with pytest.raises(PoolTimeout) as info:
            waiting.get_first("select 1")
        message = str(info.value)
        for expected in ("'pg_pool'", "pool_size=1", "max_overflow=0", "pool_timeout_s=0.2"):
            assert expected in message
        assert CANARY not in message
    finally:
        holder.close()
    assert holder.pool_status()["checked_out"] == 0
    assert waiting.get_first("select 1") == (1,)


def test_pool_settings_come_from_extras(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """Extras (as URI query strings would give them) set the pool; hook arguments win over extras."""
    name, password = app_db
    conn = _conn(postgres_server, name, password, conn_id="pg_extras", pool_size="2",
                 max_overflow="0", pool_timeout_s="0.2", application_name="hookline-test")  # fmt: skip
    hook = PostgresHook(conn)
    assert hook.pool_status()["size"] == 2
    assert hook.get_first("select current_setting('application_name')") == ("hookline-test",)
    assert PostgresHook(conn, pool_size=3).pool_options.pool_size == 3


def test_no_leaked_connections_after_errors(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """200 uses, a third raising inside the with-body and some failing in SQL: 0 checked out."""
    name, password = app_db
    conn = _conn(postgres_server, name, password, conn_id="pg_leak", pool_size=2, max_overflow=1)
    failures = 0
    for i in range(200):
        try:
            with PostgresHook(conn) as hook:
                hook.get_conn()
                if i % 5 == 0:
                    hook.run("selec broken")
                hook.get_first("select %s", (i,))
                if i % 3 == 0:
                    raise RuntimeError("body failed")
        except (RuntimeError, HookError):
            failures += 1
    assert failures > 60
    status = PostgresHook(conn).pool_status()
    assert status["checked_out"] == 0
    assert status["checked_in"] <= 3


def test_terminated_session_without_pre_ping_is_a_lost_connection(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """With pool_pre_ping off, a pooled session killed by the server fails the next statement with
    HookConnectionError ("lost the connection"); the pool drops it and the call after that works.
    With pre-ping on (the default), the dead session is replaced at checkout and nothing fails."""
    name, password = app_db
    conn = _conn(postgres_server, name, password, conn_id="pg_lost")
    optimistic = PostgresHook(conn, pool_pre_ping=False, pool_size=1)
    assert optimistic.get_first("select 1") == (1,)
    kill = f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{name}'"
    postgres_server.execute(kill)
    with pytest.raises(HookConnectionError, match="lost the connection") as info:
        optimistic.get_first("select 1")
    assert CANARY not in str(info.value)
    assert optimistic.get_first("select 1") == (1,)

    careful = PostgresHook(conn.replace(conn_id="pg_lost_ping"), pool_size=1)
    assert careful.get_first("select 1") == (1,)
    postgres_server.execute(kill)
    assert careful.get_first("select 2") == (2,)


def _prepared_count(hook: PostgresHook, runs: int) -> int:
    """Run a parametrized query ``runs`` times on one session; return how many statements that
    session holds prepared server-side."""
    with hook:
        raw = hook.get_conn()
        cursor = raw.cursor()
        for i in range(runs):
            cursor.execute("select %s::int + 1", (i,))
            cursor.fetchone()
        cursor.execute("select count(*) from pg_prepared_statements")
        (count,) = cursor.fetchone()
        cursor.close()
        return int(count)


def test_prepare_threshold_from_extras(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """Extra prepare_threshold reaches psycopg: null (as a PgBouncer in transaction mode needs)
    prepares nothing server-side, 0 prepares at once, absent keeps psycopg's default (5); a bad
    value is InvalidConnection naming the option."""
    name, password = app_db
    off = PostgresHook(_conn(postgres_server, name, password, "pg_noprep", prepare_threshold=None))
    assert off.get_conn().dbapi_connection.prepare_threshold is None  # type: ignore[union-attr]
    off.close()
    assert _prepared_count(off, 10) == 0
    text_off = _conn(postgres_server, name, password, "pg_noprep2", prepare_threshold="none")
    assert _prepared_count(PostgresHook(text_off), 10) == 0
    eager = _conn(postgres_server, name, password, "pg_prep0", prepare_threshold="0")
    assert _prepared_count(PostgresHook(eager), 1) >= 1
    default = _conn(postgres_server, name, password, "pg_prepdef")
    assert _prepared_count(PostgresHook(default), 10) >= 1
    from hookline import InvalidConnection

    bad = _conn(postgres_server, name, password, "pg_prepbad", prepare_threshold="often")
    with pytest.raises(InvalidConnection, match="prepare_threshold") as info:
        PostgresHook(bad).get_first("select 1")
    assert CANARY not in str(info.value)


def test_statement_timeout_joins_the_options_extra(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """statement_timeout_s is added to a libpq ``options`` extra, not instead of it."""
    name, password = app_db
    conn = _conn(
        postgres_server, name, password, "pg_opts", options="-c search_path=public,pg_catalog"
    )
    hook = PostgresHook(conn, statement_timeout_s=1.5)
    assert hook.get_first("show statement_timeout") == ("1500ms",)
    assert hook.get_first("show search_path") == ("public,pg_catalog",)
    assert PostgresHook(conn).get_first("show statement_timeout") == ("0",)


def test_copy_expert_in_and_out(
    postgres_server: PostgresServer, app_db: tuple[str, str], tmp_path: Path
) -> None:
    """copy_expert loads a file with COPY FROM STDIN and writes one with COPY TO STDOUT (replacing
    the target only when complete); other statements and a missing input file are HookErrors."""
    name, password = app_db
    hook = PostgresHook(_conn(postgres_server, name, password, "pg_copy"))
    hook.run("create table c (id int primary key, name text)")
    source = tmp_path / "in.csv"
    source.write_text('id,name\n1,a\n2,"b, c"\n', encoding="utf-8")
    hook.copy_expert("COPY c FROM STDIN WITH (FORMAT csv, HEADER true)", source)
    assert hook.get_records("select id, name from c order by id") == [(1, "a"), (2, "b, c")]
    target = tmp_path / "out.csv"
    hook.copy_expert("copy (select * from c order by id) to stdout with (format csv)", target)
    assert target.read_text(encoding="utf-8") == '1,a\n2,"b, c"\n'
    with pytest.raises(HookError, match="UndefinedTable"):
        hook.copy_expert("copy missing to stdout", target)
    assert target.read_text(encoding="utf-8") == '1,a\n2,"b, c"\n'  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
    with pytest.raises(HookError, match="FROM STDIN"):
        hook.copy_expert("copy c to '/tmp/x'", target)
    with pytest.raises(HookError, match="no file to load"):
        hook.copy_expert("copy c from stdin", tmp_path / "absent.csv")
    with pytest.raises(HookError, match="UniqueViolation"):
        hook.copy_expert("COPY c FROM STDIN WITH (FORMAT csv, HEADER true)", source)
    assert hook.get_first("select count(*) from c") == (2,)
    assert hook.pool_status()["checked_out"] == 0


def test_get_sqlalchemy_engine_with_engine_kwargs(
    postgres_server: PostgresServer, app_db: tuple[str, str]
) -> None:
    """engine_kwargs (Airflow's argument) builds a private engine whose connections get their
    credentials at connect time too: its URL holds no password."""
    from sqlalchemy import text

    name, password = app_db
    hook = PostgresHook(_conn(postgres_server, name, password, "pg_private"))
    engine = hook.get_sqlalchemy_engine(engine_kwargs={"pool_size": 1, "echo": False})
    try:
        assert engine is not hook.get_sqlalchemy_engine()
        assert CANARY not in engine.url.render_as_string(hide_password=False)
        with engine.connect() as conn:
            assert conn.execute(text("select current_user")).scalar() == name
    finally:
        engine.dispose()
