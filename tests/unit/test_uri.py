"""The parse/render memos of hookline._uri: results are fresh objects, and no secret is memoized."""

from __future__ import annotations

import uuid

from hookline import Connection, _uri

CANARY = "c4n4ry-S3cret!"


def test_repeated_query_gives_fresh_equal_dicts() -> None:
    """The third parse of a query made of shared fields comes from the memo: equal, not shared."""
    uri = "postgres://u:pw@h:5432/db?sslmode=require&connect_timeout=10"
    first, second, third = (_uri.parse_uri(uri) for _ in range(3))
    assert (
        first.extra
        == second.extra
        == third.extra
        == {
            "sslmode": "require",
            "connect_timeout": "10",
        }
    )
    assert third.extra is not second.extra
    assert third.extra is not _uri._query_dicts.get("sslmode=require&connect_timeout=10")
    assert Connection.from_uri(uri).get_uri() == uri


def test_secret_query_fields_are_never_memoized() -> None:
    """A query with a secret field (``password=...``) is parsed and rendered afresh every time."""
    secret = f"{CANARY}-{uuid.uuid4().hex}"  # unique: other tests' memoized fields cannot hold it
    quoted = secret.replace("!", "%21")
    uri = f"http://h/?sslmode=require&password={quoted}"
    for _ in range(3):
        conn = Connection.from_uri(uri)
        assert conn.extra_dejson["password"] == secret
        assert conn.get_uri() == uri
    cached = [*_uri._query_dicts, *map(str, _uri._query_dicts.values())]
    cached += [str(key) + value for key, value in _uri._rendered_fields.items()]
    cached += [str(item) for item in _uri._query_fields.items()]
    assert not any(secret in text or quoted in text for text in cached)


def test_duplicate_and_blank_fields_keep_airflow_semantics() -> None:
    """The last of a repeated name wins and blank fields are skipped, memo or not."""
    uri = "http://h/?a=1&&a=2&b="
    for _ in range(3):
        assert Connection.from_uri(uri).extra_dejson == {"a": "2", "b": ""}
