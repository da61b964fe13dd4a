"""hookline.hooks.multihost: host lists, member hooks, failover over SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline import Connection, masking
from hookline.exceptions import ConfigurationError, HookConnectionError
from hookline.hooks.http import HttpHook
from hookline.hooks.multihost import MultiHostHook, split_hosts
from hookline.hooks.sql import SqliteHook


def test_split_hosts_reads_ports_urls_and_defaults() -> None:
    """``host:port`` pairs, bare hosts with the connection's port, base URLs whole."""
    assert split_hosts("a:1, b ,[::1]:5", 9) == [("a", 1), ("b", 9), ("::1", 5)]
    assert split_hosts(["https://x.example/api", "h"], None) == [
        ("https://x.example/api", None),
        ("h", None),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"), [("a,,b", "empty entry"), ("a:http", "not a number")]
)
def test_split_hosts_rejects_malformed_lists(text: str, fragment: str) -> None:
    """A malformed host list is a ConfigurationError naming the entry."""
    with pytest.raises(ConfigurationError, match=fragment):
        split_hosts(text, None)


def test_members_are_named_without_userinfo_and_hosts_extra_is_not_a_header() -> None:
    """Member names show scheme and host only; the ``hosts`` extra never becomes a header."""
    conn = Connection(
        conn_id="api",
        conn_type="http",
        extra={"hosts": ["http://u:pw-Secret-77@a.example:8080/x", "http://b.example"]},
    )
    masking.register("pw-Secret-77")
    api: MultiHostHook[HttpHook] = MultiHostHook(conn)
    try:
        names = [member.name for member in api.group.members]
        assert names == ["api@http://a.example:8080", "api@http://b.example"]
        assert all("hosts" not in hook.connection.extra for hook in api.hooks)
        assert [hook.conn_id for hook in api.hooks] == ["api#1", "api#2"]
    finally:
        api.close()


def test_sqlite_files_fail_over_when_the_first_cannot_open(tmp_path: Path) -> None:
    """A host that cannot be reached (SQLite: a file in a missing directory) moves a repeatable
    call to the next; a non-repeatable one is raised."""
    good = tmp_path / "good.db"
    conn = Connection(conn_id="files", conn_type="sqlite", host=f"{tmp_path}/missing/x.db,{good}")
    db: MultiHostHook[SqliteHook] = MultiHostHook(conn, SqliteHook)
    try:
        with pytest.raises(HookConnectionError):
            db.call(lambda hook: hook.get_first("select 1"))
        assert db.call(lambda hook: hook.get_first("select 1"), repeatable=True) == (1,)
        assert db.group.current == f"files@{good}"
    finally:
        db.close()


def test_no_hosts_is_a_configuration_error() -> None:
    """A connection without a host (and no hosts extra) cannot be a host group."""
    db: MultiHostHook[SqliteHook] = MultiHostHook(
        Connection(conn_id="x", conn_type="sqlite", host="")
    )
    with pytest.raises(ConfigurationError, match="lists no hosts"):
        db.call(lambda hook: hook.get_first("select 1"))
