"""SqlHook on SQLite: the DbApiHook API, pooling, error mapping and no leaks (no server needed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import (
    Connection,
    HookConnectionError,
    HookError,
    InvalidConnection,
    MissingDependency,
    PoolTimeout,
)
from hookline.hooks.sql import (
    MySqlHook,
    PostgresHook,
    ResultCursor,
    SqlHook,
    SqliteHook,
    fetch_all_handler,
    fetch_one_handler,
    split_sql_string,
)
from hookline.hooks.sql.engines import (
    GENERATION_KEY,
    PoolOptions,
    dispose_all,
    engine_count,
    shared_engines,
)

CANARY = "c4n4ry-S3cret!"


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.fixture
def hook(db_path: Path) -> SqliteHook:
    h = SqliteHook(Connection(conn_id="lite", conn_type="sqlite", host=str(db_path)))
    h.run("create table users (id integer primary key, name text)")
    return h


# -- URL conventions --------------------------------------------------------------------------------


def test_sqlite_path_conventions(db_path: Path) -> None:
    """host is the file path (Airflow); sqlite:////abs/path puts it in schema; empty is :memory:."""
    assert SqliteHook(
        Connection(conn_type="sqlite", host=str(db_path))
    ).sqlalchemy_url.database == (str(db_path))
    from_uri = Connection.from_uri(f"sqlite:///{db_path}")
    assert SqliteHook(from_uri).sqlalchemy_url.database == str(db_path)
    for memory in (Connection(conn_type="sqlite"), Connection(conn_type="sqlite", host=":memory:")):
        hook = SqliteHook(memory)
        assert hook.sqlalchemy_url.database is None
        assert hook.get_first("select 41 + 1") == (42,)


def test_urls_are_built_from_fields_and_hide_the_password() -> None:
    """Special characters in the password need no quoting; repr/str hide it; get_uri shows it."""
    conn = Connection(
        conn_id="wh", conn_type="postgres", host="db", port=5433, login="al@ice",
        password="p@ss:/?#" + CANARY, schema="app",
    )  # fmt: skip
    hook = PostgresHook(conn)
    url = hook.sqlalchemy_url
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "p@ss:/?#" + CANARY
    assert CANARY not in repr(url)
    assert CANARY not in str(url)
    assert (
        url.render_as_string(hide_password=True) == "postgresql+psycopg://al%40ice:***@db:5433/app"
    )
    assert "p%40ss%3A%2F%3F%23" in hook.get_uri()
    assert PostgresHook(conn, schema="other").sqlalchemy_url.database == "other"
    assert CANARY not in repr(hook)


def test_driver_connect_arguments() -> None:
    """MySQL disables TLS unless extras ask; PostgreSQL passes libpq extras and whole seconds."""
    base = Connection(conn_type="mysql", host="db", login="u", password="pw-123")
    options = PoolOptions(connect_timeout_s=2.5)
    assert MySqlHook.dialect.connect_args(base, options)["ssl_disabled"] is True
    assert MySqlHook.dialect.connect_args(base, options)["connect_timeout"] == 2.5
    with_ca = base.replace(extra={"ssl_ca": "/etc/ca.pem"})
    assert MySqlHook.dialect.connect_args(with_ca, options) == {
        "connect_timeout": 2.5, "read_timeout": 2.5, "write_timeout": 2.5, "ssl_ca": "/etc/ca.pem",
    }  # fmt: skip
    assert MySqlHook(base).sqlalchemy_url.query == {"charset": "utf8mb4"}
    pg = Connection(conn_type="postgres", extra={"sslmode": "require", "pool_size": "3", "x": 1})
    assert PostgresHook.dialect.connect_args(pg, options) == {
        "sslmode": "require",
        "connect_timeout": 3,
    }


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg installed, MissingDependency says which extra to install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    with pytest.raises(MissingDependency, match=r"hookline\[postgres\]"):
        PostgresHook(Connection(conn_type="postgres", host="db")).get_sqlalchemy_engine()


def test_generic_sql_hook_rejects_unknown_types() -> None:
    """SqlHook serves sqlite/postgres/mysql; other types are a HookError naming the supported ones."""
    hook = SqlHook(Connection(conn_id="odd", conn_type="oracle", host="db"))
    with pytest.raises(HookError, match=r"cannot serve conn_type 'oracle'.*postgres") as info:
        hook.get_first("select 1")
    assert info.value.conn_id == "odd"


# -- run and its return rules -------------------------------------------------------------------------


def test_run_return_rules(hook: SqliteHook) -> None:
    """Airflow's rules: None without handler; single result for a str unless split with
    return_last=False; a list for a list of statements."""
    assert hook.run("select 1") is None
    assert hook.run("select 1", handler=fetch_all_handler) == [(1,)]
    assert hook.run(["select 1", "select 2"], handler=fetch_one_handler) == [(1,), (2,)]
    assert hook.run("select 1; select 2", split_statements=True, handler=fetch_one_handler) == (2,)
    assert hook.run(
        "select 1; select 2", split_statements=True, return_last=False, handler=fetch_one_handler
    ) == [(1,), (2,)]
    assert len(hook.descriptions) == 2
    for empty in ("", " ; -- nothing\n", []):
        with pytest.raises(ValueError, match="List of SQL statements is empty"):
            hook.run(empty, split_statements=True)
    with pytest.raises(TypeError, match="autocommit"):
        hook.run("select 1", True)  # type: ignore[arg-type]


def test_handlers_see_a_cursor_view(hook: SqliteHook) -> None:
    """Handlers get description and rowcount; fetch handlers return None for statements without rows."""
    seen: list[ResultCursor] = []

    def handler(cursor: ResultCursor) -> object:
        seen.append(cursor)
        return fetch_all_handler(cursor)

    results = hook.run(
        ["insert into users values (1, 'a')", "select id as ident, name from users"],
        handler=handler,
    )
    assert results == [None, [(1, "a")]]
    assert seen[0].description is None
    assert seen[0].rowcount == 1
    assert [col[0] for col in seen[1].description] == ["ident", "name"]
    assert hook.last_description[0][0] == "ident"
    with pytest.raises(HookError, match="no rows"):
        hook.run("delete from users", handler=lambda cur: cur.fetchone())


def test_parameters_are_bound_never_formatted(hook: SqliteHook) -> None:
    """qmark and named styles bind values; hostile text is stored literally."""
    evil = "x'); drop table users; --"
    hook.run("insert into users values (?, ?)", (1, evil))
    hook.run("insert into users values (:id, :name)", {"id": 2, "name": "b"})
    assert hook.get_records("select name from users where id = ?", [1]) == [(evil,)]
    assert hook.get_first("select count(*) from users") == (2,)


def test_statements_commit_together_or_not_at_all(hook: SqliteHook) -> None:
    """A failing statement rolls back the earlier ones of the same run; autocommit keeps them."""
    with pytest.raises(HookError):
        hook.run(["insert into users values (1, 'a')", "insert into nowhere values (1)"])
    assert hook.get_first("select count(*) from users") == (0,)
    with pytest.raises(HookError):
        hook.run(["insert into users values (1, 'a')", "insert into nowhere values (1)"],
                 autocommit=True)  # fmt: skip
    assert hook.get_first("select count(*) from users") == (1,)


def test_split_sql_string() -> None:
    """Splits at top-level semicolons only; drops comments and empty statements."""
    script = """
        insert into t values ('a;b', "c;d"); -- trailing; comment
        /* block; comment */ select 1;;
        create function f() returns int as $body$ select 1; $body$ language sql;
        select E'it\\'s;'
    """
    assert split_sql_string(script) == [
        "insert into t values ('a;b', \"c;d\")",
        "select 1",
        "create function f() returns int as $body$ select 1; $body$ language sql",
        "select E'it\\'s;'",
    ]
    assert split_sql_string("select 'a\\';b'; select 2", backslash_escapes=True) == [
        "select 'a\\';b'",
        "select 2",
    ]
    assert split_sql_string("select 'it''s; fine'") == ["select 'it''s; fine'"]


# -- insert_rows ------------------------------------------------------------------------------------


def test_insert_rows_in_chunks_from_a_generator(hook: SqliteHook) -> None:
    """A generator is consumed chunk by chunk; the count is returned; target_fields optional."""
    rows = ((i, f"n{i}") for i in range(2_501))
    assert hook.insert_rows("users", rows, ["id", "name"], commit_every=1000) == 2_501
    assert hook.insert_rows("main.users", [[9_000, "z"]]) == 1
    assert hook.insert_rows("users", []) == 0
    assert hook.get_first("select count(*), max(id) from users") == (2_502, 9_000)


def test_insert_rows_commits_each_chunk(hook: SqliteHook) -> None:
    """A failure in the second chunk keeps the first (committed); commit_every=0 is all-or-nothing."""
    rows = [(1, "a"), (2, "b"), (3, "c"), (3, "duplicate")]
    with pytest.raises(HookError, match="IntegrityError"):
        hook.insert_rows("users", rows, commit_every=2)
    assert hook.get_first("select count(*) from users") == (2,)
    with pytest.raises(HookError):
        hook.insert_rows("users", [(10, "x"), (10, "y")], commit_every=0)
    assert hook.get_first("select count(*) from users") == (2,)


def test_generic_sql_hook_uses_the_dialect_of_the_connection(db_path: Path) -> None:
    """SqlHook on a sqlite connection writes SQLite placeholders and upserts."""
    hook = SqlHook(Connection(conn_id="generic", conn_type="sqlite", host=str(db_path)))
    hook.run("create table kv (k text primary key, v text)")
    hook.insert_rows("kv", [("a", "1"), ("b", "2")])
    hook.insert_rows("kv", [("a", "3")], replace=True)
    assert hook.get_records("select k, v from kv order by k") == [("a", "3"), ("b", "2")]
    assert hook.dialect_name == "sqlite"


def test_insert_rows_replace(hook: SqliteHook) -> None:
    """replace=True overwrites rows with the same key."""
    hook.insert_rows("users", [(1, "old")])
    hook.insert_rows("users", [(1, "new"), (2, "b")], ["id", "name"], replace=True)
    assert hook.get_records("select * from users order by id") == [(1, "new"), (2, "b")]


def test_insert_rows_validates_identifiers_and_widths(hook: SqliteHook) -> None:
    """Hostile identifiers and ragged rows are rejected before anything is sent; reserved words are
    quoted."""
    for table in ("users; drop table users", "users--", 'us"ers', ""):
        with pytest.raises(HookError, match="invalid table name"):
            hook.insert_rows(table, [(1, "a")])
    with pytest.raises(HookError, match="invalid column name"):
        hook.insert_rows("users", [(1, "a")], ["id", "name) values (1, 'x'); --"])
    with pytest.raises(HookError, match="has 1 values, expected 2"):
        hook.insert_rows("users", [(1, "a"), (2,)])
    hook.run('create table "order" ("select" int)')
    assert hook.insert_rows("order", [(1,)], ["select"]) == 1
    assert hook.get_first('select "select" from "order"') == (1,)


# -- DataFrames -------------------------------------------------------------------------------------


def test_get_df_pandas(hook: SqliteHook) -> None:
    """get_df returns a pandas DataFrame with the column names; kwargs go to read_sql."""
    hook.insert_rows("users", [(1, "a"), (2, "b")])
    df = hook.get_df("select id, name from users where id >= ?", (1,), index_col="id")
    assert df.index.tolist() == [1, 2]
    assert df["name"].tolist() == ["a", "b"]


def test_get_df_polars(hook: SqliteHook) -> None:
    """get_df(df_type="polars") returns a polars DataFrame with the column names."""
    hook.insert_rows("users", [(1, "a"), (2, "b")])
    df = hook.get_df("select id, name from users where id >= ? order by id", (1,), df_type="polars")
    assert df.columns == ["id", "name"]
    assert df["name"].to_list() == ["a", "b"]


def test_get_df_missing_libraries_name_the_extra(
    hook: SqliteHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing polars or pandas raises MissingDependency naming the extra to install."""
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(MissingDependency, match=r"hookline\[polars\]"):
        hook.get_df("select 1", df_type="polars")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependency, match=r"hookline\[pandas\]"):
        hook.get_df("select 1")
    with pytest.raises(ValueError, match="df_type"):
        hook.get_df("select 1", df_type="arrow")  # type: ignore[arg-type]


# -- pooling ----------------------------------------------------------------------------------------


def test_pool_options_precedence_and_validation(db_path: Path) -> None:
    """Hook arguments win over extras (strings accepted), extras over defaults; bad values raise."""
    conn = Connection(
        conn_id="opts", conn_type="sqlite", host=str(db_path),
        extra={"pool_size": "7", "pool_pre_ping": "false", "pool_timeout_s": "1.5"},
    )  # fmt: skip
    options = SqliteHook(conn, pool_size=2).pool_options
    assert (options.pool_size, options.pool_pre_ping, options.pool_timeout_s) == (2, False, 1.5)
    assert options.max_overflow == 10
    assert SqliteHook(conn).pool_status()["size"] == 7
    for bad in ({"pool_size": "0"}, {"pool_pre_ping": "maybe"}, {"pool_timeout_s": "soon"}):
        with pytest.raises(InvalidConnection, match=next(iter(bad))) as info:
            _ = SqliteHook(conn.replace(extra=bad)).pool_options
        assert info.value.conn_id == "opts"


def test_engines_are_shared_and_hold_no_password(db_path: Path) -> None:
    """One engine per (conn_id, options); its URL, key and repr hold neither the password nor the
    login. Another Connection object with new credentials renews the same engine (its generation
    rises) instead of building a second one."""
    conn = Connection(
        conn_id="shared", conn_type="postgres", host="db", login="al", password=CANARY
    )
    first, second = PostgresHook(conn), PostgresHook(conn)
    engine = first.get_sqlalchemy_engine()
    assert engine is second.get_sqlalchemy_engine()
    assert engine_count("shared") == 1
    (shared,) = shared_engines("shared")
    rendered = engine.url.render_as_string(hide_password=False)
    assert rendered == "postgresql+psycopg://db"
    for text in (rendered, repr(engine), repr(shared), repr(shared.spec), repr(shared.credentials)):
        assert CANARY not in text
        assert "al@" not in text
    assert shared.generation == 0
    rotated = PostgresHook(conn.replace(password="rotated-pw"))
    assert rotated.get_sqlalchemy_engine() is engine
    assert shared.generation == 1
    assert PostgresHook(conn.replace(password="rotated-pw")).get_sqlalchemy_engine() is engine
    assert shared.generation == 1  # the same credentials again: nothing to renew
    assert PostgresHook(conn, pool_size=2).get_sqlalchemy_engine() is not engine
    assert engine_count("shared") == 2
    anonymous = [
        SqliteHook(Connection(conn_type="sqlite", host=str(db_path) + str(i))) for i in range(2)
    ]
    engines = {id(h.get_sqlalchemy_engine()) for h in anonymous}
    assert len(engines) == 2
    assert anonymous[0].get_sqlalchemy_engine() is anonymous[0].get_sqlalchemy_engine()
    assert GENERATION_KEY == "hookline_generation"


def test_get_conn_is_a_pooled_dbapi_connection(hook: SqliteHook) -> None:
    """get_conn checks one connection out and keeps it until close() returns it."""
    raw = hook.get_conn()
    assert hook.get_conn() is raw
    assert hook.pool_status()["checked_out"] == 1
    cursor = raw.cursor()
    cursor.execute("select 7")
    assert cursor.fetchone() == (7,)
    cursor.close()
    hook.close()
    assert hook.pool_status()["checked_out"] == 0
    assert hook.get_cursor() is not None
    hook.close()


def test_pool_exhausted_raises_pool_timeout(db_path: Path) -> None:
    """pool_size=1, max_overflow=0: the second checkout gets PoolTimeout stating the limits."""
    conn = Connection(conn_id="tiny", conn_type="sqlite", host=str(db_path))
    holder = SqliteHook(conn, pool_size=1, max_overflow=0, pool_timeout_s=0.05)
    holder.get_conn()
    with pytest.raises(PoolTimeout) as info:
        SqliteHook(conn, pool_size=1, max_overflow=0, pool_timeout_s=0.05).get_first("select 1")
    message = str(info.value)
    for expected in ("'tiny'", "pool_size=1", "max_overflow=0", "pool_timeout_s=0.05"):
        assert expected in message
    assert info.value.conn_id == "tiny"
    holder.close()


def test_unopenable_database_is_a_connection_error(tmp_path: Path) -> None:
    """A database file in a missing directory cannot be opened: HookConnectionError with conn_id."""
    conn = Connection(conn_id="gone", conn_type="sqlite", host=str(tmp_path / "no" / "x.db"))
    with pytest.raises(HookConnectionError, match="cannot connect to sqlite") as info:
        SqliteHook(conn).get_records("select 1")
    assert info.value.conn_id == "gone"
    ok, message = SqliteHook(conn).test_connection()
    assert not ok
    assert message.startswith("HookConnectionError: SqliteHook 'gone': cannot connect")


def test_test_connection_succeeds(hook: SqliteHook) -> None:
    """test_connection runs select 1 and answers with Airflow's text."""
    assert hook.test_connection() == (True, "Connection successfully tested")


def test_no_leaked_connections_after_1000_uses(db_path: Path) -> None:
    """1,000 uses, a third raising inside the with-body, some failing in SQL and some holding
    get_conn(): afterwards the pool reports 0 checked out."""
    conn = Connection(conn_id="leak", conn_type="sqlite", host=str(db_path))
    SqliteHook(conn).run("create table t (i int)")
    raised = 0
    for i in range(1_000):
        try:
            with SqliteHook(conn, pool_size=3, max_overflow=2) as h:
                if i % 2:
                    h.get_conn().cursor().close()
                if i % 7 == 0:
                    h.run("insert into missing values (1)")
                h.insert_rows("t", [(i,)])
                if i % 3 == 0:
                    raise RuntimeError("body failed")
        except (RuntimeError, HookError):
            raised += 1
    assert raised > 400
    status = SqliteHook(conn, pool_size=3, max_overflow=2).pool_status()
    assert status["checked_out"] == 0
    assert status["checked_in"] <= 5
