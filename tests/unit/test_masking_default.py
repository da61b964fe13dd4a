"""Masking is on by default for library users (issues 12.7 and 13.5), without ``install()``.

From the first registered secret (or resolved connection, or built remote backend), every log record
is masked when it is created, whatever handlers exist, including ones ``logging.basicConfig`` adds
later. ``HOOKLINE_MASKING__ENABLED=false`` or ``configure(enabled=False)`` opts out.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hookline import Connection, masking
from hookline.connection_secrets import register_connection_secrets

CANARY = "c4n4ry-S3cret!"


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A handler on the root logger, added *after* the test registers secrets (like basicConfig)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def attach(stream: io.StringIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def test_nothing_is_active_before_the_first_secret() -> None:
    """Importing hookline changes nothing in logging; the factory arrives with the first secret."""
    assert not masking.is_active()
    masking.register("tiny")  # too short to register: still nothing
    assert not masking.is_active()
    masking.register(CANARY)
    assert masking.is_active()
    assert logging.getLogRecordFactory() is not logging.LogRecord


def test_handlers_added_after_registration_see_masked_records(root_stream: io.StringIO) -> None:
    """No install(): message, %-args, mapping args by key, exceptions and stacks are masked for a
    handler added after the secret was registered, on any logger (an SDK's included)."""
    masking.register(CANARY)
    handler = attach(root_stream)
    try:
        sdk = logging.getLogger("botocore.endpoint")
        sdk.debug("Response body:\n%r", f'{{"SecretString": "{CANARY}"}}'.encode())
        sdk.debug("inline %s and %r", CANARY, [CANARY])
        sdk.debug("params: %s", {"password": "tiny", "user": "bob"})
        try:
            raise RuntimeError(f"login failed with {CANARY}")
        except RuntimeError:
            logging.getLogger("app").exception("failed")
        logging.getLogger("app").info("here %s", CANARY, stack_info=True)
    finally:
        logging.getLogger().removeHandler(handler)
    text = root_stream.getvalue()
    assert "c4n4ry" not in text
    assert "inline *** and ['***']" in text
    assert "params: {'password': '***', 'user': 'bob'}" in text
    assert "RuntimeError: login failed with ***" in text
    assert "tiny" not in text


def test_records_without_a_secret_are_left_untouched() -> None:
    """msg and args of a record holding no secret stay as the caller gave them."""
    masking.register(CANARY)
    args = ("world", 3)
    record = logging.getLogRecordFactory()(
        "x", logging.INFO, __file__, 1, "hello %s %d", args, None
    )
    assert record.msg == "hello %s %d"
    assert record.args is args
    secret = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "pw %s", (CANARY,), None)
    assert (secret.msg, secret.args) == ("pw ***", None)


def test_exception_info_is_kept_when_it_holds_no_secret() -> None:
    """An exception without a secret keeps its exc_info (error trackers need it); one with a
    secret is rendered masked into exc_text."""
    masking.register(CANARY)
    factory = logging.getLogRecordFactory()
    for message, kept in (("plain", True), (f"has {CANARY}", False)):
        try:
            raise ValueError(message)
        except ValueError:
            info = sys.exc_info()
        record = factory("x", logging.ERROR, __file__, 1, "boom", (), info)
        assert (record.exc_info is not None) is kept
        if not kept:
            assert "has ***" in (record.exc_text or "")
            assert CANARY not in (record.exc_text or "")


def test_short_secrets_follow_one_policy() -> None:
    """Values under 5 characters are not masked in free text, but are after a sensitive key."""
    masking.register("Pw9")
    assert masking.registered_count() == 0
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", ("select Pw9",), None)
    assert masking.redact(record.getMessage()) == "select Pw9"
    assert masking.redact("password=Pw9 port 1") == "password=*** port 1"


def test_opt_out_with_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch, root_stream: io.StringIO
) -> None:
    """HOOKLINE_MASKING__ENABLED=false: no factory; explicit install() still works."""
    monkeypatch.setenv(masking.ENABLED_ENV, "false")
    masking.register(CANARY)
    assert not masking.is_active()
    handler = attach(root_stream)
    try:
        logging.getLogger("app").warning("pw %s", CANARY)
        masking.install()
        logging.getLogger("app").warning("again %s", CANARY)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = root_stream.getvalue().splitlines()
    assert lines == [f"WARNING app pw {CANARY}", "WARNING app again ***"]


def test_an_invalid_opt_out_value_keeps_masking_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A value the bool parser refuses is loud (a warning) and safe (masking stays on)."""
    monkeypatch.setenv(masking.ENABLED_ENV, "maybe")
    with caplog.at_level(logging.WARNING, logger="hookline.masking"):
        masking.register(CANARY)
    assert masking.is_active()
    assert "HOOKLINE_MASKING__ENABLED must be" in caplog.text


def test_configure_switches_it_off_and_on() -> None:
    """configure(enabled=False) restores the previous factory; True brings masking back."""
    previous = logging.getLogRecordFactory()
    masking.register(CANARY)
    masking.configure(enabled=False)
    assert not masking.is_active()
    assert logging.getLogRecordFactory() is previous
    masking.configure(enabled=True)
    assert masking.is_active()
    record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, CANARY, (), None)
    assert record.msg == "***"


def test_other_record_factories_keep_working() -> None:
    """A factory set before is wrapped (its records are masked); one set after that wraps ours
    gets masked records; uninstall() puts the original back."""
    original = logging.getLogRecordFactory()

    def tagging(*args: object, **kwargs: object) -> logging.LogRecord:
        record = original(*args, **kwargs)  # type: ignore[arg-type]
        record.tag = "before"
        return record

    logging.setLogRecordFactory(tagging)
    try:
        masking.register(CANARY)
        ours = logging.getLogRecordFactory()
        record = ours("x", logging.INFO, __file__, 1, CANARY, (), None)
        assert (record.msg, record.tag) == ("***", "before")

        def after(*args: object, **kwargs: object) -> logging.LogRecord:
            return ours(*args, **kwargs)  # type: ignore[arg-type]

        logging.setLogRecordFactory(after)
        assert after("x", logging.INFO, __file__, 1, CANARY, (), None).msg == "***"
        logging.setLogRecordFactory(ours)
        masking.uninstall()
        assert logging.getLogRecordFactory() is tagging
    finally:
        logging.setLogRecordFactory(original)


def test_resolving_a_connection_switches_masking_on() -> None:
    """A connection without any secret still switches masking on: its client may log ambient
    credentials hookline never registered (an SDK's session token)."""
    register_connection_secrets(Connection(conn_id="x", conn_type="aws"))
    assert masking.is_active()
    assert masking.redact("'X-Amz-Security-Token': b'st1'") == "'X-Amz-Security-Token': b'***'"


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**environ, **env},
    )


BASIC_CONFIG = (
    "import logging, threading, hookline\n"
    "conn = hookline.Connection(conn_id='x', conn_type='http', password='c4n4ry-S3cret!')\n"
    "logging.basicConfig(level=logging.DEBUG)\n"
    "logging.getLogger('urllib3.connectionpool').debug('GET /?password=%s', 'Pw9')\n"
    "logging.getLogger('hvac').debug('token %s', conn.password)\n"
    "def work():\n"
    "    raise RuntimeError('thread saw ' + conn.password)\n"
    "t = threading.Thread(target=work); t.start(); t.join()\n"
    "raise RuntimeError('login failed with ' + conn.password)\n"
)


def test_a_real_process_is_masked_without_install() -> None:
    """A script that builds a connection, then calls logging.basicConfig, prints nothing secret:
    log lines (short values after keys too) and uncaught tracebacks (main and worker threads)."""
    out = _run(BASIC_CONFIG)
    assert out.returncode == 1
    assert "DEBUG:hvac:token ***" in out.stderr
    assert "GET /?password=***" in out.stderr
    assert "RuntimeError: login failed with ***" in out.stderr
    assert "RuntimeError: thread saw ***" in out.stderr
    assert "c4n4ry" not in out.stderr
    assert "Pw9" not in out.stderr


def test_a_real_process_can_opt_out() -> None:
    """With HOOKLINE_MASKING__ENABLED=false the same script prints what it logs."""
    out = _run(BASIC_CONFIG, HOOKLINE_MASKING__ENABLED="false")
    assert "DEBUG:hvac:token c4n4ry-S3cret!" in out.stderr
