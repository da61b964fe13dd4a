"""Secret masking: every secret hookline resolves is registered here and replaced by ``***`` in output.

Three mechanisms work together:

* **Key-based** (structured fields): a value stored under a key that looks sensitive (``password``,
  ``token``, ``api_key``, ``X-Auth``, ``webhook``, ...) is always hidden, whatever its length.
  :func:`is_sensitive_key` decides, :func:`redact_mapping` applies it.
* **Value-based** (free text): secrets registered with :func:`register` (a password, its URL-quoted,
  JSON-escaped and ``repr`` forms, a whole URI) are replaced wherever they appear in text: log messages
  and their arguments, exception messages, tracebacks.
* **Key-based in text**: what an SDK logs before hookline has seen the secret (botocore's DEBUG
  response bodies) and short values are hidden where text writes them after a sensitive key:
  ``key=value`` (query strings), ``"key": "value"`` (JSON and reprs, quotes escaped to any depth),
  ``<Key>value</Key>`` (XML), the password of ``scheme://user:password@host``, and the token in the
  path of a webhook URL (Slack ``https://hooks.slack.com/services/...``, Discord, Microsoft Teams).

**One policy for short values.** Values shorter than :data:`MIN_MASKED_LENGTH` (5) characters are never
registered, so they are not masked in free text (a password of ``a`` must not blank every ``a`` in a
log); they stay hidden wherever they are a structured field or follow a sensitive key.

**On by default.** As soon as the first secret is registered (or a connection is resolved, or a remote
secrets backend is built), hookline wraps the logging *record factory*
(:func:`logging.setLogRecordFactory`): every log record created from then on, by any logger (botocore,
boto3, urllib3, hvac, google-auth, httpx, your own), has its message, arguments, exception text and
stack text masked when it is created, before any handler, filter or formatter sees it. It does not
depend on which handlers exist, so handlers added later (``logging.basicConfig``) are covered. Records
that hold no secret keep their ``msg`` and ``args`` untouched; a record that held one is frozen to its
masked text. Uncaught exceptions are printed masked too, when ``sys.excepthook`` and
``threading.excepthook`` are Python's defaults (a hook you installed is left alone).

**Opting out**: set ``HOOKLINE_MASKING__ENABLED=false`` (read when masking would switch on), or call
``configure(enabled=False)`` (the ``[masking] enabled`` setting). Explicit :func:`install` still works
when opted out. Fields passed with ``extra=`` are set on a record after the factory runs: they are
masked by :class:`MaskingFilter`, which :func:`install` attaches (the CLI always does).

Registered values are matched by regular expressions built from tries of the values, longest match
first, and every scan runs in time linear in the text (:mod:`hookline._redaction`). Redaction fails
closed: if it raises, the output is ``"<redaction failed>"``, never the raw value.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from hookline import _redaction
from hookline._redaction import (
    MIN_MASKED_LENGTH,
    REDACTED,
    REDACTION_FAILED,
    _redact,
    is_sensitive_key,
    redact,
    redact_mapping,
    register,
    registered_count,
)

__all__ = [
    "ENABLED_ENV",
    "MIN_MASKED_LENGTH",
    "REDACTED",
    "REDACTION_FAILED",
    "MaskingFilter",
    "activate",
    "configure",
    "install",
    "is_active",
    "is_sensitive_key",
    "redact",
    "redact_mapping",
    "register",
    "registered_count",
    "reset",
    "uninstall",
]

# The name cache of is_sensitive_key, read directly by hookline.connection on its hot path.
_sensitive_cache = _redaction._sensitive_cache

#: The environment variable that switches default log masking off (``false``, ``0``, ``no``, ``off``).
ENABLED_ENV = "HOOKLINE_MASKING__ENABLED"

log = logging.getLogger(__name__)


def reset() -> None:
    """Forget every registered secret (for tests)."""
    _redaction._registry.clear()


# -- on by default: the record factory -------------------------------------------------------------

_state_lock = threading.RLock()
_enabled: bool | None = None  # None: not decided yet (read ENABLED_ENV when first needed)
_active = False  # records are masked at creation
_factory: _MaskingRecordFactory | None = None  # our newest wrapper of the record factory
_auto_hooks = False  # the excepthooks were set by activate(), not by install()


def _read_enabled() -> bool:
    from hookline.exceptions import ConfigurationError
    from hookline.options import parse_bool

    raw = os.environ.get(ENABLED_ENV)
    if raw is None:
        return True
    try:
        return parse_bool(raw, name=ENABLED_ENV, error=ConfigurationError)
    except ConfigurationError as exc:  # safe (stays on) and loud
        log.warning("%s; log masking stays on", exc)
        return True


def configure(*, enabled: bool) -> None:
    """Switch default log masking on or off (the ``[masking] enabled`` setting).

    Off stops masking records at creation at once (and removes the exception hooks it set); on
    starts it when a secret is registered already, else at the first one. :func:`install` is not
    affected.
    """
    global _enabled
    with _state_lock:
        _enabled = enabled
        if not enabled:
            _deactivate()
        elif registered_count():
            _activate_locked()


def is_active() -> bool:
    """Whether log records are masked when they are created (default log masking is on)."""
    return _active


def activate() -> None:
    """Mask every log record created from now on, unless opted out (see the module docs).

    Called when the first secret is registered, when a connection is resolved and when a remote
    secrets backend is built (its SDK logs response bodies before hookline sees the secret inside).
    Calling it again costs one global read.
    """
    if _active:
        return
    with _state_lock:
        _activate_locked()


def _activate_locked() -> None:
    global _enabled, _active, _factory, _auto_hooks
    if _active:
        return
    if _enabled is None:
        _enabled = _read_enabled()
    if not _enabled:
        return
    current = logging.getLogRecordFactory()
    if current is not _factory:  # wrap whatever is in place (ours may sit inside another's)
        _factory = _MaskingRecordFactory(current)
        logging.setLogRecordFactory(_factory)
    _active = True
    if not _saved_hooks:
        _install_excepthooks(only_defaults=True)
        _auto_hooks = True


def _deactivate() -> None:
    global _active, _factory, _auto_hooks
    _active = False  # every wrapper of ours passes records through from now on
    current = logging.getLogRecordFactory()
    if current is _factory and _factory is not None:
        logging.setLogRecordFactory(_factory.previous)
        _factory = None
    if _auto_hooks:
        _restore_excepthooks()
        _auto_hooks = False


class _MaskingRecordFactory:
    """A log record factory that builds each record with ``previous`` and masks it while active."""

    __slots__ = ("previous",)

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if _active:
            try:
                _mask_new_record(record)
            except Exception:
                _fail_closed(record)
        return record


def _mask_new_record(record: logging.LogRecord) -> None:
    """Mask a record as it is created; leave ``msg``/``args`` alone when they hold no secret."""
    msg, args = record.msg, record.args
    if args:
        try:
            rendered = record.getMessage()
        except Exception:  # a format error: never let logging print the raw arguments later
            MaskingFilter._mask(record)
            return
        masked_args = _redact_args(args)
        if masked_args is not args:
            record.args = masked_args
            try:
                shown = record.getMessage()
            finally:
                record.args = args
        else:
            shown = rendered
        masked = _redact(shown, 0)
        if masked != rendered:
            record.msg, record.args = masked, None
    elif isinstance(msg, str):
        masked = _redact(msg, 0)
        if masked != msg:
            record.msg = masked
    elif msg is not None:
        masked_msg = _redact(msg, 0)
        if masked_msg != msg:
            record.msg = masked_msg
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        masked = _redact(text, 0)
        if masked != text:
            record.exc_text, record.exc_info = masked, None
    if record.stack_info:
        record.stack_info = _redact(record.stack_info, 0)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _redact_args(args: Any) -> Any:
    """Structured arguments redacted by key; ``args`` itself (the same object) when none changed."""
    if type(args) is tuple:
        for arg in args:  # the common case, scalars only: nothing to redact by key
            if type(arg) not in _SCALARS:
                break
        else:
            return args
    if isinstance(args, Mapping):
        masked = _redact(args, 0)
        return args if masked == args else masked
    if isinstance(args, tuple):
        items = tuple(_redact_arg(arg) for arg in args)
        return args if all(a is b for a, b in zip(items, args, strict=True)) else items
    return args


def _fail_closed(record: logging.LogRecord) -> None:
    record.msg = REDACTION_FAILED
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None


_redaction.after_add = activate


# -- the filter and install() -------------------------------------------------------------------------

# Attributes every LogRecord has; anything else came from ``extra=`` and is redacted by its name.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName", "_hookline_masked"}
)


def _redact_arg(arg: Any) -> Any:
    # Structured arguments are redacted by key; strings are masked after formatting.
    if isinstance(arg, Mapping | list | tuple | set | frozenset):
        masked = _redact(arg, 0)
        return arg if masked == arg else masked
    return arg


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in messages, arguments, ``extra=`` fields and exceptions.

    Arguments that are mappings are redacted by key (a ``password`` value is hidden whatever its
    length); the record's message is then rendered, masked and frozen (``args`` cleared) so formatters
    downstream see only the masked text. Exception and stack text are rendered and masked as well.
    Each record is processed once; on any failure the message becomes ``"<redaction failed>"``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get("_hookline_masked", False):
            return True
        try:
            self._mask(record)
        except Exception:
            _fail_closed(record)
        record._hookline_masked = True
        return True

    @staticmethod
    def _mask(record: logging.LogRecord) -> None:
        if isinstance(record.msg, Mapping):
            record.msg = _redact(record.msg, 0)
        args = record.args
        if isinstance(args, Mapping):
            record.args = _redact(args, 0)
        elif isinstance(args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in args)
        try:
            message = record.getMessage()
        except Exception:  # a format error: never let logging print the raw arguments
            message = f"{record.msg} (arguments did not match the format: {record.args!r})"
        record.msg = _redact(message, 0)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = _redact(text, 0)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = _redact(record.exc_text, 0)
        if record.stack_info:
            record.stack_info = _redact(record.stack_info, 0)
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRS:
                record.__dict__[key] = redact(value, key)


_installed: list[tuple[logging.Filterer, MaskingFilter]] = []


def install(logger: logging.Logger | None = None, *, excepthooks: bool = True) -> MaskingFilter:
    """Attach a :class:`MaskingFilter` to ``logger`` (default: root) and each of its handlers.

    The record factory (on by default) already masks messages, arguments and exceptions of every
    record; the filter adds ``extra=`` fields. Filters on a logger do not run for records propagated
    from child loggers, so the filter is put on the handlers too (handlers added later are not
    covered: call it again). Calling it twice is harmless.

    With ``excepthooks`` (default), ``sys.excepthook`` and ``threading.excepthook`` are wrapped too,
    so the traceback of an uncaught exception is printed with registered secrets masked.
    """
    global _auto_hooks
    target = logger or logging.getLogger()
    masking_filter: MaskingFilter | None = None
    for filterer, existing in _installed:
        if filterer is target:
            masking_filter = existing
    if masking_filter is None:
        masking_filter = MaskingFilter()
        target.addFilter(masking_filter)
        _installed.append((target, masking_filter))
    for handler in target.handlers:
        if masking_filter not in handler.filters:
            handler.addFilter(masking_filter)
            _installed.append((handler, masking_filter))
    if excepthooks:
        with _state_lock:
            _install_excepthooks(only_defaults=False)
            _auto_hooks = False  # asked for explicitly: configure(enabled=False) keeps them
    return masking_filter


_saved_hooks: list[tuple[Any, Any]] = []


def _masked_excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(redact(text))


def _masked_thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "<unknown>"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(f"Exception in thread {name}:\n{redact(text)}")


def _install_excepthooks(*, only_defaults: bool) -> None:
    if _saved_hooks:
        return
    _saved_hooks.append((sys.excepthook, threading.excepthook))
    if not only_defaults or sys.excepthook is sys.__excepthook__:
        sys.excepthook = _masked_excepthook
    if not only_defaults or threading.excepthook is threading.__excepthook__:
        threading.excepthook = _masked_thread_excepthook


def _restore_excepthooks() -> None:
    while _saved_hooks:
        sys.excepthook, threading.excepthook = _saved_hooks.pop()


def uninstall() -> None:
    """Remove every filter, exception hook and the record factory that masking put in place, and
    forget the opt-out decision (for tests)."""
    global _enabled
    while _installed:
        filterer, masking_filter = _installed.pop()
        filterer.removeFilter(masking_filter)
    with _state_lock:
        _deactivate()
        _restore_excepthooks()
        _enabled = None
