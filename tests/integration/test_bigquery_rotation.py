"""A rotated service-account key: BigQueryHook refreshes its connection once and builds a new
client (new credential fingerprint), against the real emulator and a local token endpoint."""

from __future__ import annotations

import json
import logging

import pytest

from hookline import Connection, masking
from hookline.exceptions import AuthenticationFailed
from hookline.hooks.google.base import clear_client_cache
from hookline.hooks.google.bigquery import BigQueryHook
from hookline.testing import override_connections
from tests.servers.bqemulator import BigQueryEmulator
from tests.servers.gcp_token import TokenServer
from tests.unit.hooks.google.test_base import service_account_info


def keyed_conn(emulator: BigQueryEmulator, token: TokenServer, key_id: str) -> Connection:
    info = {**service_account_info(key_id), "token_uri": token.token_uri}
    return Connection(
        conn_id="bq_keyed",
        conn_type="google_cloud_platform",
        extra={
            "project": emulator.project_id,
            "api_endpoint": emulator.endpoint,
            "keyfile_dict": json.dumps(info),
        },
    )


def test_rotated_key_refreshes_once_and_rebuilds_the_client(
    bigquery_emulator: BigQueryEmulator,
    gcp_token_server: TokenServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Old key revoked, new key stored: invalid_grant -> AuthenticationFailed -> one refresh ->
    a new client with the new key -> the query runs. No key material in logs or errors."""
    clear_client_cache()
    masking.install()
    caplog.set_level(logging.DEBUG)
    gcp_token_server.accepted = {"c4n4ry-key-old"}
    old = keyed_conn(bigquery_emulator, gcp_token_server, "c4n4ry-key-old")
    with override_connections(old) as backend:
        hook = BigQueryHook("bq_keyed", use_legacy_sql=False, num_retries=0)
        assert hook.get_records("select 1") == [(1,)]
        old_client = hook.get_client()
        # rotation: the old key is deleted at Google, the new one is stored
        gcp_token_server.accepted = {"c4n4ry-key-new"}
        old_client._credentials.token = None  # the old token expired
        backend.set_connection(keyed_conn(bigquery_emulator, gcp_token_server, "c4n4ry-key-new"))
        assert hook.get_records("select 2") == [(2,)]
        assert hook.refresh_count == 1
        assert hook.get_client() is not old_client
        assert gcp_token_server.grants == ["c4n4ry-key-old", "c4n4ry-key-old", "c4n4ry-key-new"]
        # nothing stored to refresh to: the failure is raised, after one refresh
        gcp_token_server.accepted = set()
        hook.get_client()._credentials.token = None
        with pytest.raises(AuthenticationFailed, match="refused the credentials") as info:
            hook.get_records("select 3")
        assert hook.refresh_count == 2
    assert "PRIVATE KEY" not in caplog.text
    assert "PRIVATE KEY" not in f"{info.value} {info.value!r}"
    clear_client_cache()
