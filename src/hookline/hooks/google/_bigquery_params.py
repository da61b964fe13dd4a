"""BigQuery query parameters and value conversions for :class:`~hookline.hooks.google.bigquery.BigQueryHook`.

Parameters are always bound as BigQuery query parameters, never formatted into the SQL text:
:func:`bind_placeholders` only rewrites DB-API placeholders (``%(name)s`` -> ``@name``, ``%s`` -> ``?``)
and :func:`query_parameters` types the values.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

from hookline.exceptions import HookArgumentError, MissingDependency

__all__ = ["Parameters", "bind_placeholders", "query_parameters"]

Parameters = Mapping[str, Any] | Sequence[Any]


def _bigquery() -> Any:
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise MissingDependency(
            "google-cloud-bigquery", "bigquery", purpose="BigQueryHook"
        ) from exc
    return bigquery


def bind_placeholders(sql: str, parameters: Parameters | None) -> str:
    """Rewrite DB-API placeholders to BigQuery's: ``%(name)s`` -> ``@name``, ``%s`` -> ``?``.

    SQL already written with ``@name`` or ``?`` is left as it is. Values are never put in the text.
    """
    if parameters is None:
        return sql
    if isinstance(parameters, Mapping):
        if "%(" not in sql:
            return sql
        return sql % {name: f"@{name}" for name in parameters}
    if "%s" not in sql:
        return sql
    return sql % tuple("?" for _ in parameters)


def query_parameters(parameters: Parameters) -> list[Any]:
    """BigQuery query parameters for a mapping (named) or a sequence (positional) of values.

    Types come from the Python values (bool, int, float, Decimal, str, bytes, date, time, datetime,
    lists of one of these); an SDK ``*QueryParameter`` is used as given.

    Raises:
        HookArgumentError: a value whose BigQuery type cannot be told (None, dict, mixed lists).
    """
    if isinstance(parameters, Mapping):
        return [_parameter(str(name), value) for name, value in parameters.items()]
    if isinstance(parameters, str | bytes):
        raise HookArgumentError("parameters must be a mapping or a sequence, not a string")
    return [_parameter(None, value) for value in parameters]


def _scalar_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, decimal.Decimal):
        return "BIGNUMERIC" if _needs_bignumeric(value) else "NUMERIC"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes):
        return "BYTES"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP" if value.tzinfo is not None else "DATETIME"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    return None


def _needs_bignumeric(value: decimal.Decimal) -> bool:
    exponent = value.as_tuple().exponent
    scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return scale > 9 or abs(value) >= decimal.Decimal(10) ** 29


def _parameter(name: str | None, value: Any) -> Any:
    bigquery = _bigquery()
    if isinstance(
        value,
        bigquery.ScalarQueryParameter
        | bigquery.ArrayQueryParameter
        | bigquery.StructQueryParameter,
    ):
        return value
    label = repr(name) if name else "a positional parameter"
    if isinstance(value, list | tuple):
        types = {_scalar_type(item) for item in value}
        if len(types) != 1 or None in types:
            raise HookArgumentError(
                f"cannot infer the BigQuery type of the array {label} (empty, mixed or unsupported "
                "element types); pass a google.cloud.bigquery.ArrayQueryParameter"
            )
        return bigquery.ArrayQueryParameter(name, types.pop(), list(value))
    kind = _scalar_type(value)
    if kind is None:
        raise HookArgumentError(
            f"cannot infer the BigQuery type of {label} ({type(value).__name__}); pass a "
            "google.cloud.bigquery.ScalarQueryParameter"
        )
    return bigquery.ScalarQueryParameter(name, kind, value)


def _description(schema: Sequence[Any] | None) -> list[tuple[Any, ...]]:
    return [
        (field.name, field.field_type, None, None, None, None, field.mode != "REQUIRED")
        for field in schema or ()
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _summarise(errors: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    parts = []
    for error in errors[:limit]:
        details = error.get("errors") or [{}]
        first = details[0] if isinstance(details[0], Mapping) else {}
        reason = first.get("reason", "?")
        where = f" at {first['location']}" if first.get("location") else ""
        message = str(first.get("message", ""))[:120]
        parts.append(f"row {error.get('index')}: {reason}{where} ({message})")
    more = f"; and {len(errors) - limit} more" if len(errors) > limit else ""
    return "; ".join(parts) + more
