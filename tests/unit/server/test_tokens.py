"""API tokens: stored hashed, typed errors without secrets, and the ``hookline tokens`` commands."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookline.cli.app import app
from hookline.exceptions import ApiTokenError
from hookline.server.tokens import TokenStore, metastore_url, role_allows


@pytest.fixture
def store(isolated_hookline: Path) -> TokenStore:
    return TokenStore(metastore_url(home=isolated_hookline))


def test_tokens_are_stored_hashed(store: TokenStore, isolated_hookline: Path) -> None:
    token, text = store.create("ci", "editor")
    assert re.fullmatch(r"hlt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", text)
    store.close()
    db = sqlite3.connect(isolated_hookline / "hookline.db")
    rows = db.execute("select * from hookline_api_token").fetchall()
    db.close()
    assert len(rows) == 1
    secret = text.rsplit("_", 1)[1]
    assert secret not in repr(rows)
    assert token.token_id in repr(rows)
    assert (isolated_hookline / "hookline.db").stat().st_mode & 0o777 == 0o600


def test_authenticate(store: TokenStore) -> None:
    token, text = store.create("ci", "viewer")
    assert store.authenticate(text) == token
    assert store.authenticate(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert store.authenticate("hlt_nothing") is None
    assert store.authenticate("") is None
    store.revoke("ci")
    assert store.authenticate(text) is None


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("ci", "root", "unknown role 'root'; roles: viewer, editor, admin"),
        ("bad name", "viewer", "a token name is 1-100 characters"),
        ("", "viewer", "a token name is 1-100 characters"),
    ],
)
def test_create_errors(store: TokenStore, name: str, role: str, message: str) -> None:
    with pytest.raises(ApiTokenError, match=re.escape(message)):
        store.create(name, role)


def test_duplicate_and_missing_names(store: TokenStore) -> None:
    _, text = store.create("ci", "admin")
    with pytest.raises(ApiTokenError, match="a token named 'ci' already exists") as info:
        store.create("ci", "viewer")
    assert text not in str(info.value)
    with pytest.raises(ApiTokenError, match="no active token named 'other'"):
        store.revoke("other")
    store.revoke("ci")
    with pytest.raises(ApiTokenError, match="no active token named 'ci'"):
        store.revoke("ci")


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "viewer")
    assert role_allows("editor", "editor")
    assert not role_allows("editor", "admin")
    assert not role_allows("root", "viewer")


def test_cli_create_prints_only_the_token(isolated_hookline: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["tokens", "create", "ci", "--role", "editor"])
    assert created.exit_code == 0, created.output
    text = created.stdout.strip()
    assert re.fullmatch(r"hlt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", text)
    listed = runner.invoke(app, ["tokens", "list"])
    assert listed.exit_code == 0
    assert "ci\teditor" in listed.stdout
    assert text.rsplit("_", 1)[1] not in listed.output
    bad = runner.invoke(app, ["tokens", "create", "x", "--role", "root"])
    assert bad.exit_code == 1
    assert "unknown role 'root'" in bad.stderr
    revoked = runner.invoke(app, ["tokens", "revoke", "ci"])
    assert revoked.exit_code == 0
    store = TokenStore(metastore_url(home=isolated_hookline))
    assert store.authenticate(text) is None
    store.close()
