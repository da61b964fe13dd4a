"""Secret masking: every secret hookline resolves is registered here and replaced by ``***`` in output.

Two mechanisms work together:

* **Key-based** (structured fields): a value stored under a key that looks sensitive (``password``,
  ``token``, ``api_key``, ...) is always hidden, whatever its length. :func:`is_sensitive_key` decides,
  :func:`redact_mapping` applies it.
* **Value-based** (free text): secrets registered with :func:`register` (a password, its URL-quoted
  form, a whole URI) are replaced wherever they appear in text: log messages and their arguments,
  exception messages, tracebacks. Values shorter than :data:`MIN_MASKED_LENGTH` characters are not
  registered, so a password of ``a`` does not blank every ``a`` in a log; they stay hidden where they
  appear as structured fields.

:func:`install` attaches :class:`MaskingFilter` to the root logger's handlers; the CLI always does.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_MASKED_LENGTH",
    "REDACTED",
    "MaskingFilter",
    "install",
    "is_sensitive_key",
    "redact",
    "redact_mapping",
    "register",
    "registered_count",
    "reset",
    "uninstall",
]

REDACTED = "***"
MIN_MASKED_LENGTH = 5

# Substrings of key names that mark a value as secret (Airflow's list plus main's additions).
_SENSITIVE_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "service_key",
    "authorization",
    "credential",
    "keyfile",
    "service_account",
    "bearer",
    "connection_string",
    "dsn",
    "webhook_url",
    "auth_header",
    "cookie",
    "proxies",
    "proxy",
)
_NON_WORD = re.compile(r"\W+")
_sensitive_cache: dict[str, bool] = {}


def is_sensitive_key(name: str) -> bool:
    """True when a value stored under ``name`` must be hidden (``password``, ``x-api-key``, ``key``...).

    Matching is on the lower-cased name with non-word runs mapped to ``_``: any of the sensitive parts
    as a substring, or ``key`` as a whole word (``key``, ``sas_key``, ``key_id`` but not ``keepalive``).
    """
    cached = _sensitive_cache.get(name)
    if cached is not None:
        return cached
    norm = _NON_WORD.sub("_", str(name).lower()).strip("_")
    words = norm.split("_")
    result = any(part in norm for part in _SENSITIVE_PARTS) or "key" in words or "pass" in words
    if len(_sensitive_cache) < 10_000:
        _sensitive_cache[name] = result
    return result


class _Registry:
    """The set of registered secret values and a lazily rebuilt regex that finds them in text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        new = [v for v in values if len(v) >= MIN_MASKED_LENGTH and v not in self._values]
        if not new:
            return
        with self._lock:
            self._values.update(new)
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        pattern = self._pattern
        if pattern is None and self._values:
            with self._lock:
                # Longest first, so a whole URI is replaced before the password inside it.
                ordered = sorted(self._values, key=len, reverse=True)
                pattern = re.compile("|".join(re.escape(v) for v in ordered))
                self._pattern = pattern
        return pattern

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None


_registry = _Registry()


def register(secret: str | None, *, variants: bool = True) -> None:
    """Register ``secret`` so it is masked in all text output from now on.

    With ``variants``, its URL-quoted forms are registered too (a password inside a URI is written
    quoted). Empty values and values shorter than :data:`MIN_MASKED_LENGTH` are ignored.
    """
    if not secret or len(secret) < MIN_MASKED_LENGTH:
        return
    if variants:
        _registry.add({secret, quote(secret, safe=""), quote_plus(secret, safe="")})
    else:
        _registry.add((secret,))


def registered_count() -> int:
    """How many secret values are registered (for tests and metrics; never the values)."""
    return len(_registry)


def reset() -> None:
    """Forget every registered secret (for tests)."""
    _registry.clear()


def redact(value: Any, name: str | None = None) -> Any:
    """Return ``value`` with secrets replaced by ``***``.

    Strings have every registered secret replaced. Mappings are walked with their keys: a value under a
    sensitive key is replaced whole. Lists, tuples and sets are walked. Other objects pass through.
    When ``name`` is sensitive, the whole value is replaced. Fails closed: if redaction itself raises,
    the result is ``"<redaction failed>"``.
    """
    try:
        if name is not None and is_sensitive_key(name):
            return REDACTED if value is not None else None
        return _redact(value)
    except Exception:
        return "<redaction failed>"


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        pattern = _registry.pattern()
        return pattern.sub(REDACTED, value) if pattern is not None else value
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_redact(v) for v in value)
    return value


def redact_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``mapping`` where values under sensitive keys are ``***``, recursively."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if is_sensitive_key(key) and value is not None:
            out[key] = REDACTED
        else:
            out[key] = _redact(value)
    return out


class MaskingFilter(logging.Filter):
    """A logging filter that masks registered secrets in messages, arguments and exceptions.

    The record's message is rendered, masked and frozen (``args`` cleared) so formatters downstream see
    only the masked text; exception text and stack text are rendered and masked as well.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_hookline_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._hookline_masked = True
        return True


_installed: list[tuple[logging.Filterer, MaskingFilter]] = []


def install(logger: logging.Logger | None = None) -> MaskingFilter:
    """Attach a :class:`MaskingFilter` to ``logger`` (default: root) and each of its handlers.

    Filters on a logger do not run for records propagated from child loggers, so the filter is put on
    the handlers too. Calling it twice is harmless.
    """
    target = logger or logging.getLogger()
    for filterer, existing in _installed:
        if filterer is target:
            return existing
    masking_filter = MaskingFilter()
    target.addFilter(masking_filter)
    _installed.append((target, masking_filter))
    for handler in target.handlers:
        handler.addFilter(masking_filter)
        _installed.append((handler, masking_filter))
    return masking_filter


def uninstall() -> None:
    """Remove every filter that :func:`install` attached (for tests)."""
    while _installed:
        filterer, masking_filter = _installed.pop()
        filterer.removeFilter(masking_filter)
