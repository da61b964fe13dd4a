"""The pipeline settings (``[pipelines]`` and ``[celery]``), read from hookline's configuration.

These sections are not part of :mod:`hookline.config`'s known sections: it keeps them as read in
``Settings.sections``, and this module checks and converts them, so ``hookline.toml`` and the
``HOOKLINE_PIPELINES__*`` / ``HOOKLINE_CELERY__*`` variables both work::

    [pipelines]
    xcom_max_bytes = 1048576        # a task result larger than this fails the task

    [celery]
    broker_url = "redis://127.0.0.1:6379/0"    # HOOKLINE_CELERY__BROKER_URL
    queue = "hookline"
    visibility_timeout_s = 3600     # a message a dead worker held is redelivered after this
    heartbeat_interval_s = 2        # a running task's heartbeat; 4 missed ones mean it died

Unknown keys are errors, so a misspelt setting never passes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hookline.exceptions import ConfigurationError
from hookline.options import parse_float, parse_int

__all__ = ["CelerySettings", "PipelineSettings", "celery_settings", "pipeline_settings"]

DEFAULT_XCOM_MAX_BYTES: Final = 1024 * 1024
DEFAULT_BROKER_URL: Final = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE: Final = "hookline"
DEFAULT_VISIBILITY_TIMEOUT_S: Final = 3600.0
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 2.0
#: Heartbeats a running task may miss before its try is presumed dead and sent again.
MISSED_HEARTBEATS: Final = 4


@dataclass(frozen=True)
class PipelineSettings:
    """``[pipelines]``.

    Attributes:
        xcom_max_bytes: Largest serialized task result (or pushed value) kept.
        metastore_url: Where runs are recorded (``[metastore] url``; None: SQLite in the home).
    """

    xcom_max_bytes: int = DEFAULT_XCOM_MAX_BYTES
    metastore_url: str | None = None


@dataclass(frozen=True)
class CelerySettings:
    """``[celery]``.

    Attributes:
        broker_url: Any Celery broker URL (Redis by default).
        queue: The queue tasks are sent to and workers consume.
        visibility_timeout_s: Redis broker: seconds before a message taken by a worker that never
            acknowledged it (it died) is delivered again.
        heartbeat_interval_s: How often a worker records that a task is still running.
    """

    broker_url: str = DEFAULT_BROKER_URL
    queue: str = DEFAULT_QUEUE
    visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S

    @property
    def lease_s(self) -> float:
        """Seconds without a heartbeat after which a running try is presumed dead."""
        return self.heartbeat_interval_s * MISSED_HEARTBEATS

    def __repr__(self) -> str:
        from hookline.masking import redact

        return (
            f"CelerySettings(broker_url={redact(self.broker_url)!r}, queue={self.queue!r}, "
            f"visibility_timeout_s={self.visibility_timeout_s:g}, "
            f"heartbeat_interval_s={self.heartbeat_interval_s:g})"
        )


def _section(name: str, known: set[str]) -> tuple[Mapping[str, Any], str | None]:
    from hookline.config import load_settings

    settings = load_settings()
    body = settings.sections.get(name, {})
    unknown = sorted(set(body) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown setting(s) {', '.join(unknown)} in [{name}]; known: {', '.join(sorted(known))}"
        )
    return body, settings.metastore_url


def pipeline_settings() -> PipelineSettings:
    """The ``[pipelines]`` settings (and the metastore URL runs are recorded in).

    Raises:
        ConfigurationError: an unknown key or an invalid value.
    """
    body, url = _section("pipelines", {"xcom_max_bytes"})
    limit = body.get("xcom_max_bytes", DEFAULT_XCOM_MAX_BYTES)
    return PipelineSettings(
        xcom_max_bytes=parse_int(
            limit, name="[pipelines] xcom_max_bytes", minimum=0, error=ConfigurationError
        ),
        metastore_url=url,
    )


def celery_settings() -> CelerySettings:
    """The ``[celery]`` settings; the broker URL's password is registered for masking.

    Raises:
        ConfigurationError: an unknown key or an invalid value.
    """
    body, _ = _section(
        "celery", {"broker_url", "queue", "visibility_timeout_s", "heartbeat_interval_s"}
    )
    broker = body.get("broker_url", DEFAULT_BROKER_URL)
    if not isinstance(broker, str) or "://" not in broker:
        raise ConfigurationError(
            "[celery] broker_url must be a broker URL such as redis://host:6379/0"
        )
    _register_url_password(broker)
    queue = body.get("queue", DEFAULT_QUEUE)
    if not isinstance(queue, str) or not queue.strip():
        raise ConfigurationError("[celery] queue must be a non-empty name")
    return CelerySettings(
        broker_url=broker,
        queue=queue.strip(),
        visibility_timeout_s=parse_float(
            body.get("visibility_timeout_s", DEFAULT_VISIBILITY_TIMEOUT_S),
            name="[celery] visibility_timeout_s",
            minimum=1.0,
            error=ConfigurationError,
        ),
        heartbeat_interval_s=parse_float(
            body.get("heartbeat_interval_s", DEFAULT_HEARTBEAT_INTERVAL_S),
            name="[celery] heartbeat_interval_s",
            minimum=0.05,
            error=ConfigurationError,
        ),
    )


def _register_url_password(url: str) -> None:
    from urllib.parse import unquote, urlsplit

    from hookline import masking

    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        masking.register(password)
        masking.register(unquote(password))
