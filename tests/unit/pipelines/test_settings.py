"""[pipelines] and [celery] settings: defaults, env variables, the file, checked values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hookline import masking
from hookline.exceptions import ConfigurationError
from hookline.pipelines.settings import celery_settings, pipeline_settings


def test_defaults() -> None:
    """Without settings: Redis on localhost, queue hookline, 1 MiB XCom limit."""
    celery = celery_settings()
    assert (celery.broker_url, celery.queue, celery.lease_s) == (
        "redis://127.0.0.1:6379/0",
        "hookline",
        8.0,
    )
    assert pipeline_settings().xcom_max_bytes == 1024 * 1024


def test_env_variables_and_file(isolated_hookline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOOKLINE_CELERY__BROKER_URL wins over hookline.toml; the broker password is masked."""
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(
        '[celery]\nbroker_url = "redis://file:6379/0"\nqueue = "q1"\n'
        "heartbeat_interval_s = 0.5\n[pipelines]\nxcom_max_bytes = 10\n"
    )
    monkeypatch.setenv("HOOKLINE_CELERY__BROKER_URL", "redis://:broker-Pass-99@env:6379/1")
    celery = celery_settings()
    assert (celery.broker_url, celery.queue, celery.lease_s) == (
        "redis://:broker-Pass-99@env:6379/1",
        "q1",
        2.0,
    )
    assert "broker-Pass-99" not in repr(celery)
    assert masking.redact("url redis://:broker-Pass-99@x") == "url redis://:***@x"
    assert pipeline_settings().xcom_max_bytes == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HOOKLINE_CELERY__BROKER", "redis://x", "unknown setting 'broker' in [celery]"),
        ("HOOKLINE_CELERY__BROKER_URL", "localhost", "broker_url must be a broker URL"),
        (
            "HOOKLINE_CELERY__HEARTBEAT_INTERVAL_S",
            "0",
            "heartbeat_interval_s must be a number >= 0.05",
        ),
        ("HOOKLINE_CELERY__VISIBILITY_TIMEOUT_S", "soon", "visibility_timeout_s must be a number"),
    ],
)
def test_bad_celery_settings(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    """Unknown keys and bad values are ConfigurationErrors naming the setting."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        celery_settings()


def test_bad_pipeline_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """xcom_max_bytes must be a non-negative integer."""
    monkeypatch.setenv("HOOKLINE_PIPELINES__XCOM_MAX_BYTES", "-1")
    with pytest.raises(ConfigurationError, match="xcom_max_bytes must be an integer >= 0"):
        pipeline_settings()
