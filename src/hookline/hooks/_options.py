"""Connection options that several hooks read the same way (argument, else extra, else default).

:func:`timeout_s_option` and :func:`retry_limit_option` are the rules that
:class:`~hookline.hooks.smtp.SmtpHook` and :class:`~hookline.hooks.slack.SlackWebhookHook` share;
the parsing itself is :mod:`hookline.options`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookline.options import parse_float, parse_int, resolve_option

__all__ = ["retry_limit_option", "timeout_s_option"]


def timeout_s_option(
    argument: float | None, extra: Mapping[str, Any], *, conn_id: str, default: float
) -> float:
    """A timeout in seconds: ``argument``, else the extra ``timeout_s``, else the extra
    ``timeout`` (Airflow's name), else ``default``.

    Raises:
        InvalidConnection: the value is not a number of seconds >= 0 (the extra's key is named).
    """
    key = "timeout_s" if extra.get("timeout_s") is not None else "timeout"
    return resolve_option(
        "timeout_s",
        argument,
        extra,
        default,
        extra_key=key,
        convert=lambda v: parse_float(v, name=key, minimum=0.0, conn_id=conn_id),
    )


def retry_limit_option(
    argument: int | None, extra: Mapping[str, Any], *, conn_id: str, default: int
) -> int:
    """How many retries follow the first attempt: ``argument``, else the extra ``retry_limit``,
    else ``default``.

    Raises:
        InvalidConnection: the value is not a whole number >= 0.
    """
    return resolve_option(
        "retry_limit",
        argument,
        extra,
        default,
        convert=lambda v: parse_int(v, name="retry_limit", minimum=0, conn_id=conn_id),
    )
