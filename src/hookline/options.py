"""Reading options the one way every hook and setting does: argument, else extra, else default.

* :func:`parse_bool`: the one boolean parser (``true/false``, ``1/0``, ``yes/no``, ``on/off``, any
  case; anything else is an error, never a silent False or True);
* :func:`parse_int` / :func:`parse_float`: numbers from JSON or text, with a lower bound;
* :func:`resolve_option`: a keyword argument given by the caller wins, then the connection's extra,
  then the default, converted and checked once, with an error that names the option and the
  connection but never quotes the value of a sensitive key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from hookline.exceptions import HooklineError, InvalidConnection

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "parse_bool", "parse_float", "parse_int", "resolve_option"]

T = TypeVar("T")

TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})


def _fail(
    error: type[HooklineError], name: str, expected: str, value: Any, conn_id: str | None
) -> HooklineError:
    from hookline import masking

    shown = "a value" if masking.is_sensitive_key(name) else repr(value)
    message = f"{name} must be {expected}, got {masking.redact(shown)}"
    if issubclass(error, InvalidConnection):
        return error(message, conn_id=conn_id)
    return error(message)


def parse_bool(
    value: Any,
    *,
    name: str = "value",
    conn_id: str | None = None,
    error: type[HooklineError] = InvalidConnection,
) -> bool:
    """``value`` as a boolean: a bool, or one of :data:`TRUE_WORDS` / :data:`FALSE_WORDS` (any case).

    Raises:
        InvalidConnection: (or ``error``) anything else, such as ``"maybe"`` or ``2``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    elif type(value) is int and value in (0, 1):
        return bool(value)
    raise _fail(error, name, "a boolean (true/false, 1/0, yes/no, on/off)", value, conn_id)


def parse_int(
    value: Any,
    *,
    name: str = "value",
    minimum: int | None = None,
    conn_id: str | None = None,
    error: type[HooklineError] = InvalidConnection,
) -> int:
    """``value`` as an integer (an int, or decimal text), at least ``minimum`` when given.

    Raises:
        InvalidConnection: (or ``error``) not an integer, a bool, or below ``minimum``.
    """
    number: int | None = None
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value)
    if number is None or (minimum is not None and number < minimum):
        expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        raise _fail(error, name, expected, value, conn_id)
    return number


def parse_float(
    value: Any,
    *,
    name: str = "value",
    minimum: float | None = None,
    conn_id: str | None = None,
    error: type[HooklineError] = InvalidConnection,
) -> float:
    """``value`` as a finite number (int, float or numeric text), at least ``minimum`` when given.

    Raises:
        InvalidConnection: (or ``error``) not a number, a bool, NaN, infinite or below ``minimum``.
    """
    number: float | None = None
    if not isinstance(value, bool) and isinstance(value, int | float | str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is not None and not math.isfinite(number):
        number = None
    if number is None or (minimum is not None and number < minimum):
        expected = "a number" + (f" >= {minimum}" if minimum is not None else "")
        raise _fail(error, name, expected, value, conn_id)
    return number


_MISSING: Any = object()


def resolve_option(
    name: str,
    argument: T | None,
    extra: Mapping[str, Any],
    default: T,
    *,
    convert: Callable[[Any], T] | None = None,
    extra_key: str | None = None,
) -> T:
    """The value of option ``name``: ``argument`` when not None, else the connection's ``extra``
    (under ``extra_key``, default ``name``), else ``default``.

    ``convert`` (for example ``lambda v: parse_int(v, name="timeout", conn_id=...)``) checks and
    converts an argument or extra value; the default is trusted as it is.
    """
    if argument is not None:
        return convert(argument) if convert is not None else argument
    value = extra.get(extra_key or name, _MISSING)
    if value is _MISSING or value is None:
        return default
    if convert is not None:
        return convert(value)
    result: T = value
    return result
