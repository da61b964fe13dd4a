"""Unit tests of GoogleBaseHook: extras as Airflow reads them, credentials, fingerprints, masking."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from hookline import Connection, masking
from hookline.exceptions import AuthenticationFailed, InvalidConnection
from hookline.hooks.google.base import DEFAULT_SCOPES, GoogleBaseHook, clear_client_cache


def service_account_info(private_key_id: str = "c4n4ry-key-id-0001") -> dict[str, Any]:
    """A syntactically valid service-account key (a fresh RSA key; never sent anywhere)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": private_key_id,
        "private_key": pem,
        "client_email": "etl@key-project.iam.gserviceaccount.com",
        "client_id": "1234",
        "token_uri": "http://127.0.0.1:9/token",
    }


@pytest.fixture(scope="module")
def key_info() -> dict[str, Any]:
    return service_account_info()


def hook_for(extra: dict[str, Any], **kwargs: Any) -> GoogleBaseHook:
    conn = Connection(conn_id="gcp", conn_type="google_cloud_platform", extra=extra)
    return GoogleBaseHook(conn, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Any:
    clear_client_cache()
    yield
    clear_client_cache()


@pytest.mark.parametrize("prefix", ["", "extra__google_cloud_platform__"])
def test_extras_with_and_without_airflow_prefix(prefix: str) -> None:
    """project, scope, num_retries, impersonation_chain, anonymous, api_endpoint read both ways."""
    hook = hook_for(
        {
            f"{prefix}project": "p1",
            f"{prefix}scope": "https://a/scope1, https://a/scope2",
            f"{prefix}num_retries": "2",
            f"{prefix}impersonation_chain": "a@x.iam, b@x.iam",
            f"{prefix}anonymous": "true",
            f"{prefix}api_endpoint": "http://127.0.0.1:9050/",
        }
    )
    assert hook.project_id == "p1"
    assert hook.scopes == ["https://a/scope1", "https://a/scope2"]
    assert hook.num_retries == 2
    assert hook.impersonation_chain == ["a@x.iam", "b@x.iam"]
    assert hook.anonymous is True
    assert hook.api_endpoint == "http://127.0.0.1:9050"


def test_short_name_wins_and_empty_short_name_means_unset() -> None:
    """As Airflow's get_field: a present short name wins; an empty one is None (no fallback)."""
    hook = hook_for({"project": "short", "extra__google_cloud_platform__project": "long"})
    assert hook._get_field("project") == "short"
    empty = hook_for({"project": "", "extra__google_cloud_platform__project": "long"})
    assert empty._get_field("project") is None


def test_defaults_and_is_anonymous_alias() -> None:
    """Defaults: cloud-platform scope, 5 retries, no chain; Airflow's is_anonymous works too."""
    hook = hook_for({"is_anonymous": True, "project": "p"})
    assert hook.scopes == list(DEFAULT_SCOPES)
    assert hook.num_retries == 5
    assert hook.impersonation_chain == []
    credentials = hook.get_conn()
    assert type(credentials).__name__ == "AnonymousCredentials"
    assert hook_for({}, impersonation_chain=["x@y"]).impersonation_chain == ["x@y"]


def test_bad_num_retries_and_anonymous_are_typed_errors() -> None:
    """A non-integer num_retries or a non-boolean anonymous: InvalidConnection naming the option."""
    with pytest.raises(InvalidConnection, match="num_retries must be an integer"):
        _ = hook_for({"num_retries": "many"}).num_retries
    with pytest.raises(InvalidConnection, match="anonymous must be a boolean"):
        _ = hook_for({"anonymous": "perhaps"}).anonymous


def test_keyfile_dict_builds_service_account_credentials_and_masks_the_key(
    key_info: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """keyfile_dict (JSON text): service-account credentials, project from the key, secrets masked."""
    text = json.dumps(key_info)
    hook = hook_for({"keyfile_dict": text, "scope": "https://s/1"})
    credentials, project = hook.get_credentials_and_project_id()
    assert type(credentials).__name__ == "Credentials"
    assert credentials.service_account_email == key_info["client_email"]
    assert credentials._scopes == ["https://s/1"]
    assert project == "key-project"
    masking.install()
    caplog.set_level(logging.INFO)
    logging.getLogger("t").info("key %s id %s", key_info["private_key"], key_info["private_key_id"])
    assert key_info["private_key_id"] not in caplog.text
    assert "PRIVATE KEY-----\nMII" not in caplog.text
    assert masking.redact(text) == "***"


def test_keyfile_dict_parse_error_never_quotes_the_key(key_info: dict[str, Any]) -> None:
    """A malformed keyfile_dict: InvalidConnection without the text, and no chained JSON error
    (whose ``doc`` holds the whole key)."""
    broken = json.dumps(key_info)[:-5]
    hook = hook_for({"extra__google_cloud_platform__keyfile_dict": broken})
    with pytest.raises(InvalidConnection) as info:
        hook.get_conn()
    error = info.value
    assert "keyfile_dict extra is not valid JSON near character" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__
    for text in (str(error), repr(error)):
        assert key_info["private_key_id"] not in text
        assert "PRIVATE KEY" not in text


def test_malformed_service_account_key_is_a_typed_error(key_info: dict[str, Any]) -> None:
    """A key object without client_email: InvalidConnection naming what is missing, not the key."""
    info = {k: v for k, v in key_info.items() if k != "client_email"}
    with pytest.raises(InvalidConnection, match="malformed") as error:
        hook_for({"keyfile_dict": info}).get_conn()
    assert "PRIVATE KEY" not in str(error.value)
    with pytest.raises(InvalidConnection, match="only service_account"):
        hook_for({"keyfile_dict": {"type": "authorized_user"}}).get_conn()


def test_key_path_and_mutual_exclusion(key_info: dict[str, Any], tmp_path: Path) -> None:
    """key_path reads a JSON key file; key_path with keyfile_dict is an error; P12 is refused."""
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_info))
    credentials, project = hook_for({"key_path": str(path)}).get_credentials_and_project_id()
    assert credentials.service_account_email == key_info["client_email"]
    assert project == "key-project"
    with pytest.raises(InvalidConnection, match="mutually exclusive"):
        hook_for({"key_path": str(path), "keyfile_dict": json.dumps(key_info)}).get_conn()
    with pytest.raises(InvalidConnection, match="P12"):
        hook_for({"key_path": str(tmp_path / "key.p12")}).get_conn()
    with pytest.raises(InvalidConnection, match="cannot read the key file"):
        hook_for({"key_path": str(tmp_path / "missing.json")}).get_conn()


def test_unsupported_airflow_extras_are_refused() -> None:
    """key_secret_name / credential_config_file are not silently ignored."""
    with pytest.raises(InvalidConnection, match="key_secret_name"):
        hook_for({"key_secret_name": "projects/p/secrets/s"}).get_conn()


def test_application_default_credentials_when_no_key(
    key_info: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key: google.auth.default() (here GOOGLE_APPLICATION_CREDENTIALS); none at all is
    AuthenticationFailed that says what to configure."""
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(key_info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    credentials, project = hook_for({"project": "explicit"}).get_credentials_and_project_id()
    assert credentials.service_account_email == key_info["client_email"]
    assert project == "explicit"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    with pytest.raises(AuthenticationFailed, match="no Google credentials"):
        hook_for({}).get_conn()


def test_impersonation_chain_wraps_the_source_credentials(key_info: dict[str, Any]) -> None:
    """The last account is impersonated through the others (delegates)."""
    hook = hook_for(
        {"keyfile_dict": json.dumps(key_info)}, impersonation_chain=["a@p.iam", "b@p.iam"]
    )
    credentials = hook.get_conn()
    assert type(credentials).__name__ == "Credentials"
    assert credentials._target_principal == "b@p.iam"
    assert credentials._delegates == ["a@p.iam"]
    assert credentials._source_credentials.service_account_email == key_info["client_email"]


def test_fingerprint_is_a_digest_and_changes_with_the_credentials(
    key_info: dict[str, Any], tmp_path: Path
) -> None:
    """Same settings, same fingerprint (never the key); another key or scope, another one; a key
    file replaced in place changes it too."""
    text = json.dumps(key_info)
    a = hook_for({"keyfile_dict": text}).credential_fingerprint()
    assert a == hook_for({"keyfile_dict": text}).credential_fingerprint()
    assert len(a) == 20
    assert key_info["private_key_id"] not in a
    assert a != hook_for({"keyfile_dict": text, "scope": "x"}).credential_fingerprint()
    path = tmp_path / "k.json"
    path.write_text(text)
    hook = hook_for({"key_path": str(path)})
    before = hook.credential_fingerprint()
    path.write_text(json.dumps(service_account_info("c4n4ry-key-id-0002")))
    hook._fingerprint = None
    assert hook.credential_fingerprint() != before


def test_shared_client_is_one_per_key_and_thread_safe() -> None:
    """16 threads asking at once build one client; another fingerprint builds another."""
    built: list[object] = []
    lock = threading.Lock()

    def build(credentials: Any, project: str | None) -> object:
        with lock:
            built.append(object())
            return built[-1]

    hook = hook_for({"anonymous": True, "project": "p"})
    results: list[object] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        results.append(hook.shared_client("kind", build, "p"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert all(r is built[0] for r in results)
    other = hook_for({"anonymous": True, "project": "p", "scope": "s"})
    assert other.shared_client("kind", build, "p") is not built[0]
    hook.reset_client()
    assert hook.shared_client("kind", build, "p") is not built[0]
    assert len(built) == 3


def test_registered_for_google_cloud_platform() -> None:
    """Connection(conn_type="google_cloud_platform").get_hook() is a GoogleBaseHook."""
    conn = Connection(conn_id="g", conn_type="google_cloud_platform", extra={"anonymous": True})
    assert isinstance(conn.get_hook(), GoogleBaseHook)
    assert conn.test_connection() == (True, "Connection successfully tested")
