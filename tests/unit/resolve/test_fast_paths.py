"""Behaviour pinned by the fast paths: each shortcut must give the same results and errors as the
general path it bypasses, and keep every secret masked.

* Fernet decryption (:meth:`KeyRing.decrypt`) behaving exactly as ``MultiFernet``;
* ``Connection.from_json`` keeping JSON-parsed extras as they are (no JSON round trip);
* secrets registration: plain passwords stored once, the whole URI only when needed;
* shared strings and ints for repeated URI parts (memory);
* SQL on SQLite: no pre-ping by default, statements on the pooled DB-API connection.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hookline import Connection, masking
from hookline.connection_secrets import register_connection_secrets
from hookline.exceptions import DecryptionError, HookError, InvalidConnection
from hookline.hooks.sql import PostgresHook, SqlHook, SqliteHook
from hookline.hooks.sql.engines import dispose_all
from hookline.registry import backend_class_for, register_backend
from hookline.resolve import SecretsChain
from hookline.secrets.base import SecretsBackend
from hookline.secrets.env import EnvBackend
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import KeyRing, generate_key

CANARY = "c4n4ry-S3cret!"


# -- Fernet decryption ------------------------------------------------------------------------------


def _tampered(token: str) -> list[str]:
    """Variants of a valid token that Fernet must reject: each region flipped, cut, re-versioned."""
    raw = bytearray(base64.urlsafe_b64decode(token))
    out = []
    for index in (0, 1, 9, 25, len(raw) - 33, len(raw) - 1):  # version, time, IV, body, pad, MAC
        changed = bytearray(raw)
        changed[index] ^= 0x01
        out.append(base64.urlsafe_b64encode(bytes(changed)).decode())
    out.append(base64.urlsafe_b64encode(bytes(raw[:-1])).decode())  # truncated MAC
    out.append(base64.urlsafe_b64encode(bytes(raw[:-32])).decode())  # no MAC at all
    out.append(base64.urlsafe_b64encode(bytes(raw[:57]) + bytes(raw[-32:])).decode())  # no body
    out.append(token[:-2])  # broken base64
    out.append("not a token!")
    out.append("")
    return out


@pytest.mark.parametrize("plaintext", ["", "s3cr3t", CANARY * 20, "ünïcødé ✓", '{"a": [1, 2]}'])
def test_keyring_decrypts_what_multifernet_decrypts(plaintext: str) -> None:
    """Tokens of the first or any later key decrypt to the same text as MultiFernet's."""
    old, new = generate_key(), generate_key()
    ring = KeyRing([new, old])
    reference = MultiFernet([Fernet(new), Fernet(old)])
    for key in (new, old):
        token = Fernet(key).encrypt(plaintext.encode()).decode()
        assert ring.decrypt(token, conn_id="c") == plaintext
        assert reference.decrypt(token.encode()).decode() == plaintext


def test_keyring_rejects_every_tampered_token_as_multifernet_does() -> None:
    """A flipped bit anywhere, a cut token, broken base64 or a token of an unknown key is a
    DecryptionError naming the connection, never the plaintext."""
    key = generate_key()
    ring = KeyRing([key])
    token = Fernet(key).encrypt(CANARY.encode()).decode()
    stranger = Fernet(generate_key()).encrypt(CANARY.encode()).decode()
    for bad in [*_tampered(token), stranger]:
        with pytest.raises(
            DecryptionError, match="cannot decrypt the password of connection 'c'"
        ) as info:
            ring.decrypt(bad, conn_id="c", field="password")
        assert CANARY not in str(info.value)
        with pytest.raises(InvalidToken):  # the reference rejects it too
            MultiFernet([Fernet(key)]).decrypt(bad.encode())


def test_keyring_rejects_a_token_with_bad_padding_even_with_a_valid_mac() -> None:
    """A token signed with the right key whose plaintext padding is malformed is rejected (the
    padding is checked after the MAC, as Fernet does)."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = generate_key()
    raw = base64.urlsafe_b64decode(key)
    iv = b"\x00" * 16
    encryptor = Cipher(algorithms.AES(raw[16:]), modes.CBC(iv)).encryptor()
    body = encryptor.update(b"x" * 15 + b"\x00") + encryptor.finalize()  # pad byte 0: invalid
    signed = b"\x80" + b"\x00" * 8 + iv + body
    mac = hmac.HMAC(raw[:16], hashes.SHA256())
    mac.update(signed)
    token = base64.urlsafe_b64encode(signed + mac.finalize()).decode()
    with pytest.raises(DecryptionError):
        KeyRing([key]).decrypt(token, conn_id="c")


# -- from_json --------------------------------------------------------------------------------------


def test_from_json_extras_equal_from_dict_and_stay_read_only() -> None:
    """JSON-parsed extras (flat or nested) give the same connection as from_dict, read-only, with
    the same JSON text and hash; sensitive values inside are registered for masking."""
    data = {
        "conn_type": "postgres",
        "host": "db",
        "login": "u",
        "password": CANARY,
        "port": "5432",
        "extra": {"sslmode": "require", "nested": {"api_token": "n3sted-t0ken"}, "n": [1, 2.5]},
    }
    text = json.dumps(data)
    from_json = Connection.from_json(text, conn_id="j")
    from_dict = Connection.from_dict(data, conn_id="j")
    assert from_json == from_dict
    assert hash(from_json) == hash(from_dict)
    assert from_json.extra_json == from_dict.extra_json
    assert json.loads(from_json.extra_json or "") == data["extra"]
    assert from_json.extra["n"] == (1, 2.5)
    with pytest.raises(TypeError):
        from_json.extra["nested"]["api_token"] = "x"  # type: ignore[index]
    assert "n3sted-t0ken" not in masking.redact("value n3sted-t0ken here")
    flat = Connection.from_json('{"conn_type": "http", "extra": {"a": "1", "b": "2"}}')
    assert dict(flat.extra) == {"a": "1", "b": "2"}
    with pytest.raises(TypeError):
        flat.extra["a"] = "3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"conn_type": "http", "extra": [1]}', "must be a JSON object"),
        ('{"conn_type": "http", "extra": "[1]"}', "does not parse as a dictionary"),
        ('{"conn_type": "http", "port": 1.5}', "port"),
        ('{"conn_type": "http", "port": "70000"}', "outside 0-65535"),
        ('{"conn_type": "http", "host": 5}', "host must be a str"),
        ('{"conn_type": "bad type"}', "is not a valid type"),
        ('{"conn_type": "http", "bogus": 1}', "unknown connection field"),
        ('{"conn_id": "other", "conn_type": "http"}', "does not match"),
    ],
)
def test_from_json_still_validates_every_field(text: str, message: str) -> None:
    """The JSON fast path keeps every check of from_dict and the constructor."""
    data = json.loads(text)
    data.setdefault("password", CANARY)
    with pytest.raises(InvalidConnection, match=message) as info:
        Connection.from_json(json.dumps(data), conn_id="j")
    assert CANARY not in str(info.value)


def test_from_dict_with_a_non_json_mapping_is_still_checked() -> None:
    """from_dict of a mapping that is not JSON (a set value) is refused; tuples become lists."""
    with pytest.raises(InvalidConnection, match="not JSON"):
        Connection.from_dict({"conn_type": "http", "extra": {"s": {1, 2}}})
    conn = Connection.from_dict({"conn_type": "http", "extra": {"t": (1, 2)}})
    assert conn.extra_json == '{"t": [1, 2]}'


# -- masking registration ---------------------------------------------------------------------------


def test_plain_password_is_registered_once_and_masked_in_all_forms() -> None:
    """A password of URL-safe characters has no distinct variants: one registered value, masked
    raw and inside the URI; registering it again adds nothing."""
    conn = Connection(
        conn_id="p", conn_type="postgres", host="db", login="u", password="Plain-Pw_123.~"
    )
    assert masking.registered_count() == 1
    masking.register("Plain-Pw_123.~")
    assert masking.registered_count() == 1
    assert (
        masking.redact(f"pw=Plain-Pw_123.~ uri {conn.get_uri()}")
        == "pw=*** uri postgres://u:***@db"
    )


def test_special_password_still_registers_its_quoted_forms() -> None:
    """A password with characters that URL quoting or JSON escaping changes registers those forms."""
    masking.register('p@ss "w"/rd')
    for form in ('p@ss "w"/rd', "p%40ss%20%22w%22%2Frd", "p%40ss+%22w%22%2Frd", 'p@ss \\"w\\"/rd'):
        assert form not in masking.redact(f"x {form} y"), form


def test_uri_is_registered_only_when_its_secrets_alone_would_not_mask_it() -> None:
    """A long password and plain extras: the URI is masked through the password, no entry of its
    own. A short password, credentials in the host or JSON-written secret extras: the whole URI is
    registered, so printing it hides everything."""
    covered = Connection(
        conn_id="a",
        conn_type="postgres",
        host="db",
        login="u",
        password=CANARY,
        extra={"sslmode": "require"},
    )
    register_connection_secrets(covered)
    assert masking.registered_count() == 2  # the password and its quoted form (it has a "!")
    assert CANARY not in masking.redact(covered.get_uri())
    for conn in (
        Connection(conn_id="b", conn_type="postgres", host="db", login="u", password="abc"),
        Connection(
            conn_id="c",
            conn_type="http",
            host="https://u:t0ken-value@api",
            password="pw-long-enough",
        ),
        Connection(
            conn_id="d", conn_type="http", host="api", extra={"api_key": 'k"ey-with-quote', "n": 1}
        ),
        Connection(conn_id="e", conn_type="http", host="api", extra={"token": "shrt"}),
    ):
        register_connection_secrets(conn)
        assert masking.redact(f"see {conn.get_uri()} now") == "see *** now", conn.conn_id


def test_chain_hit_masks_the_uri_without_registering_it() -> None:
    """Through the chain: the resolved connection's URI prints with the password hidden."""
    chain = SecretsChain(
        [EnvBackend(environ={"HOOKLINE_CONN_W": f"postgres://u:{CANARY}@db/app?sslmode=require"})]
    )
    conn = chain.get_connection("w")
    shown = masking.redact(conn.get_uri())
    assert CANARY not in shown
    assert shown.startswith("postgres://u:***@db/app")


# -- shared strings and ints ------------------------------------------------------------------------


def test_repeated_uri_parts_are_shared_but_secret_values_are_not() -> None:
    """Extra names, short values under names that are not secret, and ports are one object across
    connections; values under sensitive names are kept per connection."""
    one = Connection.from_uri(
        "postgres://u:pw-one-123@h1:5432/d?sslmode=require&api_token=tok-one-1234", conn_id="one"
    )
    two = Connection.from_uri(
        "postgres://u:pw-two-123@h2:5432/d?sslmode=require&api_token=tok-one-1234", conn_id="two"
    )
    assert one.extra["sslmode"] is two.extra["sslmode"]
    assert next(iter(one.extra)) is next(iter(two.extra))
    assert one.port is two.port
    assert one.extra["api_token"] == two.extra["api_token"]
    assert one.extra["api_token"] is not two.extra["api_token"]
    with pytest.raises(InvalidConnection, match="outside 0-65535"):
        Connection.from_uri("postgres://h:70000/d", conn_id="big")


def test_shared_query_fields_decode_the_same_every_time() -> None:
    """Decoded fields are reused from the second parse on: the extras stay exactly Airflow's
    (``+`` is a space, percent escapes decoded, last duplicate wins)."""
    uri = "http://h/?a+b=c+d&e%20f=%2Fx&dup=1&dup=2&empty=&=novalue"
    first = Connection.from_uri(uri, conn_id="q1")
    second = Connection.from_uri(uri, conn_id="q2")
    expected = {"a b": "c d", "e f": "/x", "dup": "2", "empty": "", "": "novalue"}
    assert dict(first.extra) == dict(second.extra) == expected


# -- registry ---------------------------------------------------------------------------------------


def test_default_chain_backends_resolve_and_can_be_overridden() -> None:
    """env and metastore are found without entry points; a runtime registration still wins."""
    assert backend_class_for("env") is EnvBackend
    assert backend_class_for("metastore") is MetastoreBackend

    class Custom(SecretsBackend):
        name = "env"

    register_backend("env", Custom)
    try:
        assert backend_class_for("env") is Custom
    finally:
        from hookline import registry

        registry._extra_backends.pop("env", None)


# -- SQL on SQLite ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_conn(tmp_path: Path) -> Connection:
    return Connection(conn_id="lite", conn_type="sqlite", host=str(tmp_path / "t.db"))


@pytest.fixture(autouse=True)
def _engines() -> object:
    yield None
    dispose_all()


def test_pool_pre_ping_defaults_per_dialect(sqlite_conn: Connection) -> None:
    """Off for SQLite files, on for network databases; the hook argument or the extra overrides it."""
    assert SqliteHook(sqlite_conn).pool_options.pool_pre_ping is False
    assert SqlHook(sqlite_conn).pool_options.pool_pre_ping is False
    assert SqliteHook(sqlite_conn, pool_pre_ping=True).pool_options.pool_pre_ping is True
    on = sqlite_conn.replace(extra={"pool_pre_ping": "true"})
    assert SqliteHook(on).pool_options.pool_pre_ping is True
    pg = Connection(conn_id="pg", conn_type="postgres", host="127.0.0.1", password=CANARY)
    assert PostgresHook(pg).pool_options.pool_pre_ping is True
    assert PostgresHook(pg, pool_pre_ping=False).pool_options.pool_pre_ping is False
    assert SqliteHook(sqlite_conn).get_sqlalchemy_engine().pool._pre_ping is False  # type: ignore[attr-defined]


def test_sqlite_statements_commit_together_or_not_at_all(sqlite_conn: Connection) -> None:
    """A list of statements is one transaction: a failing one rolls back the earlier ones, and the
    error is a HookError without parameters or secrets; success commits them all."""
    hook = SqliteHook(sqlite_conn)
    hook.run("create table t (v text)")
    with pytest.raises(HookError, match="OperationalError") as info:
        hook.run(["insert into t values (?)", "insert into missing values (?)"], (CANARY,))
    assert CANARY not in str(info.value)
    assert hook.get_first("select count(*) from t") == (0,)
    assert hook.run(["insert into t values (?)", "insert into t values (?)"], ("a",)) is None
    assert hook.get_records("select v from t order by v") == [("a",), ("a",)]
    assert hook.get_first("select v from t where v = :v", {"v": "a"}) == ("a",)
    assert hook.get_first("select v from t where v = 'none'") is None
    assert hook.last_description[0][0] == "v"
    assert hook.pool_status()["checked_out"] == 0


def test_sqlite_handler_errors_roll_back_and_return_the_connection(sqlite_conn: Connection) -> None:
    """A handler that raises leaves nothing committed and the connection back in the pool; fetching
    from a statement without rows is a HookError."""
    hook = SqliteHook(sqlite_conn)
    hook.run("create table t (v int)")

    def boom(cursor: object) -> None:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        hook.run("insert into t values (1)", handler=boom)
    assert hook.get_first("select count(*) from t") == (0,)
    with pytest.raises(HookError, match="returned no rows"):
        hook.run("insert into t values (2)", handler=lambda cursor: cursor.fetchall())
    assert hook.pool_status()["checked_out"] == 0
    assert hook.run("insert into t values (3)", handler=lambda cursor: cursor.rowcount) == 1


def test_sqlite_log_sql_logs_statements_not_parameters(
    sqlite_conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """With log_sql (default), each statement is logged at DEBUG; parameters never are."""
    hook = SqliteHook(sqlite_conn)
    with caplog.at_level(logging.DEBUG):
        hook.get_first("select ? as v", (CANARY,))
    assert "Running statement: select ? as v" in caplog.text
    assert CANARY not in caplog.text
