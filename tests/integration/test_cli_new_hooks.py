"""``hookline connections test`` / ``get`` for the Google, Slack Web API and email connection types,
against the suite's real servers (bqemulator, the Slack fake, aiosmtpd); no secret in the output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from hookline.cli.app import app
from hookline.hooks.google.base import clear_client_cache
from tests.servers.bqemulator import BigQueryEmulator
from tests.servers.slack_fake import BOT_TOKEN, SlackFake
from tests.servers.smtp import SmtpServer
from tests.unit.hooks.google.test_base import service_account_info


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: dict[str, object]) -> None:
    monkeypatch.setenv(f"HOOKLINE_CONN_{conn_id.upper()}", json.dumps(value))


def test_connections_test_google_and_bigquery_against_the_emulator(
    bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google_cloud_platform and gcpbigquery connections test OK through the registry."""
    clear_client_cache()
    extra = bigquery_emulator.connection_extra()
    set_conn(monkeypatch, "gcp_emu", {"conn_type": "google_cloud_platform", "extra": extra})
    set_conn(monkeypatch, "bq_emu", {"conn_type": "gcpbigquery", "extra": extra})
    for conn_id in ("gcp_emu", "bq_emu"):
        result = run("connections", "test", conn_id)
        assert result.exit_code == 0, result.output
        assert f"Connection {conn_id!r} OK" in result.stdout
    clear_client_cache()


def test_connections_test_slack_ok_and_invalid_token(
    slack_fake: SlackFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slack connection tests OK (auth.test); a revoked token fails with exit 1, token hidden."""
    set_conn(
        monkeypatch,
        "slack_ok",
        {"conn_type": "slack", "password": BOT_TOKEN, "extra": {"base_url": slack_fake.base_url}},
    )
    assert run("connections", "test", "slack_ok").exit_code == 0
    slack_fake.tokens = set()
    failed = run("connections", "test", "slack_ok")
    assert failed.exit_code == 1
    assert "invalid_auth" in failed.output
    assert BOT_TOKEN not in failed.output
    shown = run("connections", "get", "slack_ok")
    assert shown.exit_code == 0
    assert BOT_TOKEN not in shown.output


def test_connections_test_email_type(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``email`` connection is tested through the SMTP hook (NOOP)."""
    set_conn(
        monkeypatch,
        "mail",
        {"conn_type": "email", "host": smtp_server.host, "port": smtp_server.port},
    )
    result = run("connections", "test", "mail")
    assert result.exit_code == 0, result.output


def test_connections_get_masks_keyfile_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    """``connections get`` of a connection holding a service-account key shows no key material."""
    info = service_account_info("c4n4ry-cli-key-id")
    set_conn(
        monkeypatch,
        "gcp_keyed",
        {
            "conn_type": "google_cloud_platform",
            "extra": {"extra__google_cloud_platform__keyfile_dict": json.dumps(info)},
        },
    )
    result = run("connections", "get", "gcp_keyed")
    assert result.exit_code == 0, result.output
    assert "c4n4ry-cli-key-id" not in result.output
    assert "PRIVATE KEY" not in result.output
