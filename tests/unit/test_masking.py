"""Secret masking: registration, text and structured redaction, the logging filter, failing closed."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections import namedtuple
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from hookline import Connection, _redaction, masking

CANARY = "c4n4ry-S3cret!"


def test_register_and_redact_text() -> None:
    """A registered secret is replaced by *** wherever it appears in text."""
    masking.register(CANARY)
    assert masking.redact(f"password={CANARY}; again {CANARY}") == "password=***; again ***"
    assert masking.redact("nothing here") == "nothing here"


ODD_SECRET = CANARY + " /@é'\"\\"


@pytest.mark.parametrize(
    "form",
    [
        quote(ODD_SECRET, safe=""),
        quote_plus(ODD_SECRET, safe=""),
        json.dumps(ODD_SECRET)[1:-1],
        json.dumps(ODD_SECRET, ensure_ascii=False)[1:-1],
        repr(ODD_SECRET)[1:-1],
    ],
    ids=["quote", "quote_plus", "json-ascii", "json-utf8", "repr"],
)
def test_register_covers_quoted_forms(form: str) -> None:
    """The URL-quoted, JSON-escaped and repr forms of a secret are masked too."""
    assert form != ODD_SECRET
    masking.register(ODD_SECRET)
    assert masking.redact(f"<{form}>") == "<***>"


def test_longest_match_wins_whatever_the_registration_order() -> None:
    """A URI holding a password is replaced whole, and a secret inside a longer one never leaves
    part of the longer one visible."""
    masking.register("alice-password")
    uri = "postgres://alice:alice-password@db/app"
    masking.register(uri, variants=False)
    assert masking.redact(f"uri {uri} pw alice-password") == "uri *** pw ***"
    masking.register("longer-secret-XYZ123")
    masking.register("secret-XYZ")  # part of an earlier, longer secret
    assert masking.redact("a longer-secret-XYZ123 b secret-XYZ c") == "a *** b *** c"


def test_overlapping_secrets_are_hidden_entirely() -> None:
    """Two secrets that overlap in the text are hidden as one span, leaving no part visible."""
    masking.register("12345-abc")
    masking.register("abc-67890")
    assert masking.redact("x 12345-abc-67890 y") == "x *** y"
    assert masking.redact("12345-abc abc-67890") == "*** ***"


def test_many_secrets_registered_between_redactions_are_all_masked() -> None:
    """Registering hundreds of secrets while redacting in between masks every one of them."""
    secrets = [f"secret-{i:04d}-value" for i in range(300)]
    for i, secret in enumerate(secrets):
        masking.register(secret)
        assert masking.redact(f"[{secrets[i // 2]}]") == "[***]"
    text = " ".join(secrets)
    assert masking.redact(text) == " ".join(["***"] * len(secrets))


@pytest.mark.parametrize("value", [None, "", "a", "abcd", 12345678, b"bytes-secret"])
def test_short_empty_and_non_text_values_are_not_registered(value: Any) -> None:
    """Values shorter than 5 characters (and non-strings) are not registered: a password "a" must
    not blank every "a" in the logs."""
    masking.register(value)
    assert masking.registered_count() == 0
    assert masking.redact("abcd a") == "abcd a"


def test_short_secrets_are_still_hidden_as_structured_fields() -> None:
    """A short password is hidden where it is a field: redacted mappings, repr of a connection."""
    assert masking.redact_mapping({"password": "abc", "user": "abc"}) == {
        "password": "***",
        "user": "abc",
    }
    conn = Connection(conn_type="x", login="bob", password="abc", extra={"api_key": "k"})
    assert "abc" not in repr(conn)
    assert conn.to_dict(redact=True)["extra"] == {"api_key": "***"}


def test_reset_forgets_everything() -> None:
    """reset() empties the registry (tests use it for isolation)."""
    masking.register(CANARY)
    assert masking.registered_count() > 0
    masking.reset()
    assert masking.registered_count() == 0
    assert masking.redact(CANARY) == CANARY


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "PASSWORD",
        "db_password",
        "passwd",
        "passphrase",
        "x-api-key",
        "apiKey",
        "api_key",
        "apikey",
        "privateKey",
        "private_key",
        "private_key_id",
        "access_token",
        "accessKey",
        "aws_secret_access_key",
        "client_secret",
        "credentials",
        "keyfile_dict",
        "key",
        "sas_key",
        "Authorization",
        "bearer_token",
        "proxy",
        "proxies",
        "db_pwd",
        "pass",
        "connection_string",
        "service_account_json",
        "webhook_url",
        "session-cookie",
        "dsn",
        "X-Auth",
        "x_auth",
        "basic_auth",
        "X-Amz-Signature",
        "webhook",
        "slack_webhook",
        "webhookUrl",
        "sig",
    ],
)
def test_is_sensitive_key_true(name: str) -> None:
    """Names that hold secrets, in snake, kebab and camel case."""
    assert masking.is_sensitive_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "host",
        "login",
        "schema",
        "port",
        "timeout",
        "keepalive",
        "keyspace",
        "monkey",
        "passive",
        "region_name",
        "sslmode",
        "description",
        "extra",
        "",
        "auth",
        "auth_type",
        "auth_mount_point",
        "author",
        "authority",
        "signature_version",
        "signal",
    ],
)
def test_is_sensitive_key_false(name: str) -> None:
    """Ordinary names, including ones that merely contain the letters of `key` or `pass`."""
    assert not masking.is_sensitive_key(name)


def test_redact_walks_structures() -> None:
    """Mappings by key (nested too), lists, tuples, sets and namedtuples; other objects pass."""
    masking.register(CANARY)
    pair = namedtuple("pair", "a b")
    value = {
        "password": "short",
        "token": None,
        "nested": {"api_key": 123, "note": f"pw {CANARY}"},
        "items": [CANARY, ("x", CANARY), {CANARY}],
        "pair": pair(CANARY, 1),
        "number": 5,
    }
    assert masking.redact(value) == {
        "password": "***",
        "token": None,
        "nested": {"api_key": "***", "note": "pw ***"},
        "items": ["***", ("x", "***"), {"***"}],
        "pair": pair("***", 1),
        "number": 5,
    }
    assert masking.redact({"a": 1}, name="password") == "***"
    assert masking.redact(None, name="password") is None


def test_redact_fails_closed() -> None:
    """If redaction itself fails, the result is a placeholder, never the raw value."""

    class Exploding(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            raise RuntimeError(CANARY)

        def __iter__(self) -> Iterator[str]:
            yield "password"

        def __len__(self) -> int:
            return 1

    assert masking.redact(Exploding()) == masking.REDACTION_FAILED


def test_redact_survives_cyclic_data() -> None:
    """Cyclic structures are cut at a depth limit with ***, not a RecursionError."""
    loop: list[Any] = [CANARY]
    loop.append(loop)
    masking.register(CANARY)
    result = masking.redact(loop)
    assert CANARY not in repr(result)


# -- the logging filter -------------------------------------------------------------------------------


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler carries the masking filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(api_token)s", defaults={"api_token": ""}))
    log = logging.getLogger("hookline.test.masking")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    masking.install(log)
    yield log, stream
    log.removeHandler(handler)
    log.propagate = True


def test_filter_masks_message_and_args(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """Registered secrets in the message and in %-args are masked; mapping args by key."""
    log, stream = logged
    masking.register(CANARY)
    log.info(f"inline {CANARY}")
    log.info("args %s %r", CANARY, [CANARY])
    log.info("dict %s", {"password": "tiny", "user": "bob"})
    log.info("named %(password)s %(user)s", {"password": "tiny", "user": "bob"})
    log.info({"token": "tiny", "k": "v"})
    lines = stream.getvalue().splitlines()
    assert lines == [
        "inline ***|",
        "args *** ['***']|",
        "dict {'password': '***', 'user': 'bob'}|",
        "named *** bob|",
        "{'token': '***', 'k': 'v'}|",
    ]


def test_filter_masks_extra_fields(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """`extra=` fields under sensitive names are hidden; others are masked as text."""
    log, stream = logged
    log.info("call", extra={"api_token": "tiny"})
    assert stream.getvalue() == "call|***\n"


def test_filter_masks_exceptions_and_their_causes(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    """log.exception: the traceback text, including the chained cause, is masked."""
    log, stream = logged
    masking.register(CANARY)
    try:
        try:
            raise ValueError(f"inner {CANARY}")
        except ValueError as exc:
            raise RuntimeError(f"outer {quote(CANARY, safe='')}") from exc
    except RuntimeError:
        log.exception("failed")
    output = stream.getvalue()
    assert "ValueError: inner ***" in output
    assert "RuntimeError: outer ***" in output
    assert "c4n4ry" not in output


def test_filter_masks_exc_info_given_as_tuple(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """exc_info passed explicitly (as from sys.exc_info()) is masked too."""
    log, stream = logged
    masking.register(CANARY)
    try:
        raise KeyError(CANARY)
    except KeyError:
        info = sys.exc_info()
    log.error("lookup", exc_info=info)
    assert "c4n4ry" not in stream.getvalue()
    assert "KeyError: '***'" in stream.getvalue()


def test_filter_masks_stack_info(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """stack_info text is masked."""
    log, stream = logged
    masking.register(CANARY)
    log.info("here %s", CANARY, stack_info=True)
    assert "c4n4ry" not in stream.getvalue()


def test_filter_never_prints_raw_args_on_format_errors(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    """A bad format string does not make logging dump the raw arguments."""
    log, stream = logged
    masking.register(CANARY)
    log.info("two %s %s", CANARY)  # noqa: PLE1206 - the format error is the point
    output = stream.getvalue()
    assert "c4n4ry" not in output
    assert "arguments did not match" in output


def test_filter_processes_a_record_once() -> None:
    """Running the filter twice leaves the record as the first run did."""
    masking.register(CANARY)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pw %s", (CANARY,), None)
    masking_filter = masking.MaskingFilter()
    assert masking_filter.filter(record)
    assert masking_filter.filter(record)
    assert record.getMessage() == "pw ***"


def test_install_is_idempotent_and_uninstall_removes() -> None:
    """install() twice adds one filter per logger/handler; handlers added later join on the next
    install(); uninstall() removes them all."""
    log = logging.getLogger("hookline.test.install")
    first, second = logging.NullHandler(), logging.NullHandler()
    log.addHandler(first)
    try:
        installed = masking.install(log)
        assert masking.install(log) is installed
        assert log.filters.count(installed) == 1
        assert first.filters.count(installed) == 1
        log.addHandler(second)
        masking.install(log)
        assert second.filters.count(installed) == 1
        masking.uninstall()
        assert installed not in log.filters
        assert installed not in first.filters
        assert installed not in second.filters
    finally:
        log.removeHandler(first)
        log.removeHandler(second)


def test_uncaught_exception_traceback_is_masked_in_a_real_process() -> None:
    """After install(), an uncaught exception (main thread or worker thread) prints its traceback
    with registered secrets replaced; without install() the secret would be printed."""
    code = (
        "import threading, hookline\n"
        "from hookline import masking\n"
        "conn = hookline.Connection(conn_id='x', conn_type='http', password='c4n4ry-S3cret!')\n"
        "masking.install()\n"
        "def work():\n"
        "    raise RuntimeError('thread saw ' + conn.password)\n"
        "t = threading.Thread(target=work); t.start(); t.join()\n"
        "raise RuntimeError('login failed with ' + conn.password)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert "RuntimeError: login failed with ***" in out.stderr
    assert "RuntimeError: thread saw ***" in out.stderr
    assert "c4n4ry-S3cret!" not in out.stderr


# -- values after sensitive keys in free text (never registered, or not yet) ----------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://api/x?api_key=Ab1&page=2 200", "GET https://api/x?api_key=***&page=2 200"),
        (f"dsn=host=h password={CANARY} user=u", "dsn=*** password=*** user=u"),
        ('{"password": "pw", "user": "bob"}', '{"password": "***", "user": "bob"}'),
        ("{'token': 'a\\'b', 'n': 1}", "{'token': '***', 'n': 1}"),
        ('"X-Api-Key":"k1"', '"X-Api-Key":"***"'),
        (
            "{'X-Amz-Security-Token': b'st1', 'Host': b'h'}",
            "{'X-Amz-Security-Token': b'***', 'Host': b'h'}",
        ),
        # JSON inside a JSON string inside a bytes repr (botocore's DEBUG response bodies)
        (
            'b\'{"SecretString": "{\\\\"password\\\\": \\\\"pw\\\\"}", "Name": "n"}\'',
            'b\'{"SecretString": "***", "Name": "n"}\'',
        ),
        (
            '{\\"password\\": \\"pw\\", \\"host\\": \\"h\\"}',
            '{\\"password\\": \\"***\\", \\"host\\": \\"h\\"}',
        ),
        (f"postgres://bob:{CANARY}@db:5432/app", "postgres://bob:***@db:5432/app"),
        ("redis://:pw@h:6379/0 and http://user@h/", "redis://:***@h:6379/0 and http://user@h/"),
        ("Value: mysql://u:p@ss@h/db", "Value: mysql://u:***@h/db"),
        (
            "<Credentials><AccessKeyId>AKID1</AccessKeyId><SecretAccessKey>sk/1+</SecretAccessKey>"
            "<SessionToken>st</SessionToken><Expiration>2026</Expiration></Credentials>",
            "<Credentials><AccessKeyId>***</AccessKeyId><SecretAccessKey>***</SecretAccessKey>"
            "<SessionToken>***</SessionToken><Expiration>2026</Expiration></Credentials>",
        ),
    ],
)
def test_values_after_sensitive_keys_are_masked_in_text(text: str, expected: str) -> None:
    """Text written before hookline knew a secret (an SDK's DEBUG log of a response body) and short
    secrets, which are never registered, are still hidden where they follow a sensitive key: query
    strings, ``k=v`` lists, JSON and Python reprs (quotes escaped to any depth), URL passwords."""
    assert masking.registered_count() == 0
    assert masking.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "cannot decrypt the password: it was encrypted with key 1a2b3c4d",
        "keys tried: 1a2b3c4d, 5e6f7a8b",
        "token_path is not readable",
        "spark://k8s://10.0.0.1:443 and http://[::1]:80/x",
        "deadline_s=1, max_attempts=4, password=***",
        "monkey=banana passive=yes",
    ],
)
def test_prose_without_keyed_values_is_left_alone(text: str) -> None:
    """Only quoted values after ``key:`` and values after ``key=`` are hidden: messages that merely
    mention a sensitive word keep their meaning."""
    assert masking.redact(text) == text


def test_log_of_unregistered_secret_in_sdk_body_is_masked() -> None:
    """A DEBUG record of a response body holding a connection (logged before the connection is
    parsed) reaches handlers with the values under sensitive keys hidden."""
    stream = io.StringIO()
    logger = logging.getLogger("test.masking.sdk_body")
    handler = logging.StreamHandler(stream)
    handler.addFilter(masking.MaskingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    body = json.dumps({"SecretString": json.dumps({"password": CANARY, "extra": {"token": "t1"}})})
    try:
        logger.debug("Response body:\n%r", body.encode())
        logger.debug("params: %s", {"Value": f"postgres://u:{quote(CANARY, safe='')}@h/?token=t1"})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Response body" in text
    for leaked in (CANARY, quote(CANARY, safe=""), "t1"):
        assert leaked not in text


def test_nested_json_text_in_a_non_sensitive_extra_is_masked() -> None:
    """An extra whose value is JSON text (Airflow's ``get_extra_dejson(nested=True)`` shape) hides
    the secrets inside it in repr, the redacted URI and ``to_dict(redact=True)``, even short ones."""
    conn = Connection(
        conn_type="http",
        host="h",
        extra={"config": json.dumps({"password": CANARY, "api_key": "k9"}), "n": "{not json"},
    )
    masking.reset()  # check the key-based mechanism, not the registry
    for text in (
        repr(conn),
        str(conn),
        conn.get_redacted_uri(),
        json.dumps(conn.to_dict(redact=True)),
    ):
        assert CANARY not in text
        assert quote(CANARY, safe="") not in text
        assert "k9" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "posting to https://hooks.slack.com/services/T0001/B0002/XxYyZz123 failed",
            "posting to https://hooks.slack.com/services/*** failed",
        ),
        (
            "url=https://hooks.slack.com/workflows/T1/A2/3/abc",
            "url=https://hooks.slack.com/workflows/***",
        ),
        (
            '{"url": "https://discord.com/api/webhooks/123/tok-EN_1"}',
            '{"url": "https://discord.com/api/webhooks/123/***"}',
        ),
        (
            "https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x/y",
            "https://acme.webhook.office.com/webhookb2/***",
        ),
        ("X-Auth: abc", "X-Auth: ***"),  # a header line
        (
            "GET /\nhost:h\nx-amz-security-token:St0k\r\n",
            "GET /\nhost:h\nx-amz-security-token:***\r\n",
        ),
        ("  password: hunter2\nuser: bob", "  password: ***\nuser: bob"),
        ("login failed: the password: was empty", "login failed: the password: was empty"),
        ('{"X-Auth": "t0k"}', '{"X-Auth": "***"}'),
        ("webhook=https://example.com/hook/123", "webhook=***"),
        ("https://hooks.slack.com/", "https://hooks.slack.com/"),
    ],
)
def test_webhook_tokens_and_auth_headers_are_masked_in_text(text: str, expected: str) -> None:
    """A webhook URL's path is its credential: hidden under any key (``config show`` prints URLs);
    ``X-Auth`` values are hidden like other credential headers (issue 12.11)."""
    assert masking.redact(text) == expected


def test_webhook_and_x_auth_are_hidden_as_structured_fields() -> None:
    """Settings or extras named ``webhook`` or ``X-Auth`` are hidden whole."""
    shown = masking.redact_mapping(
        {
            "webhook": "https://hooks.slack.com/services/T/B/C",
            "headers": {"X-Auth": "t0k", "Accept": "json"},
            "auth_type": "basic",
        }
    )
    assert shown == {
        "webhook": "***",
        "headers": {"X-Auth": "***", "Accept": "json"},
        "auth_type": "basic",
    }


def _spellings(name: str) -> list[str]:
    words = name.split("_")
    camel = words[0] + "".join(w.title() for w in words[1:])
    return [name, name.upper(), "-".join(words), camel, camel[0].upper() + camel[1:], f"x_{name}"]


@pytest.mark.parametrize(
    "name",
    sorted(
        {*_redaction._SENSITIVE_PARTS, *_redaction._SENSITIVE_WORDS}
        | {f"x_{word}" for word in _redaction._SENSITIVE_LAST_WORDS}
    ),
)
def test_text_hints_cover_every_sensitive_name(name: str) -> None:
    """The free-text scan only looks at names holding a hint: every sensitive name, however it is
    spelt (snake, kebab, camel, upper), must hold one, and its value is then hidden."""
    for spelling in _spellings(name):
        assert masking.is_sensitive_key(spelling), spelling
        assert any(hint in spelling.lower() for hint in _redaction._HINT_WORDS), spelling
        assert masking.redact(f"{spelling}=v4lue") == f"{spelling}=***", spelling
