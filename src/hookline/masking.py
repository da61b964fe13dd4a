"""Secret masking: every secret hookline resolves is registered here and replaced by ``***`` in output.

Two mechanisms work together:

* **Key-based** (structured fields): a value stored under a key that looks sensitive (``password``,
  ``token``, ``api_key``, ...) is always hidden, whatever its length. :func:`is_sensitive_key` decides,
  :func:`redact_mapping` applies it.
* **Value-based** (free text): secrets registered with :func:`register` (a password, its URL-quoted,
  JSON-escaped and ``repr`` forms, a whole URI) are replaced wherever they appear in text: log messages
  and their arguments, exception messages, tracebacks. Values shorter than :data:`MIN_MASKED_LENGTH`
  characters are not registered, so a password of ``a`` does not blank every ``a`` in a log; they stay
  hidden where they appear as structured fields.
* **Key-based in text**: what an SDK logs before hookline has seen the secret (botocore's DEBUG
  response bodies) and short values are hidden where text writes them after a sensitive key:
  ``key=value`` (query strings), ``"key": "value"`` (JSON and reprs, quotes escaped to any depth),
  ``<Key>value</Key>`` (XML), and the password of ``scheme://user:password@host``.

Registered values are matched by regular expressions built from tries of the values, longest match
first, so a whole URI is replaced before the password inside it and the cost per message stays small
with thousands of secrets (a plain alternation is ~500x slower at 30,000 values).

:func:`install` attaches :class:`MaskingFilter` to the root logger and its handlers; the CLI always does.
Redaction fails closed: if it raises, the output is ``"<redaction failed>"``, never the raw value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_MASKED_LENGTH",
    "REDACTED",
    "REDACTION_FAILED",
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
REDACTION_FAILED = "<redaction failed>"
MIN_MASKED_LENGTH = 5
_MAX_DEPTH = 64

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
# Whole words (after splitting on non-word characters, "_" and camelCase) that mark a secret.
_SENSITIVE_WORDS = frozenset({"key", "pass", "pwd"})
_NON_WORD = re.compile(r"[\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_sensitive_cache: dict[object, bool] = {}


def is_sensitive_key(name: object) -> bool:
    """True when a value stored under ``name`` must be hidden (``password``, ``x-api-key``, ``key``...).

    The name is lower-cased with camelCase, non-word runs and ``_`` turned into word breaks. It is
    sensitive when it contains one of the sensitive parts (``password``, ``secret``, ``token``,
    ``api_key``, ``private_key``, ``credential``, ...) or has ``key``, ``pass`` or ``pwd`` as a whole
    word (``key``, ``sas_key``, ``privateKey``, ``db_pwd``, but not ``keepalive`` or ``passive``).
    """
    cached = _sensitive_cache.get(name)
    if cached is not None:
        return cached
    text = str(name)
    words = _NON_WORD.sub(" ", _CAMEL.sub(" ", text)).lower().split()
    joined = "_".join(words)
    plain = text.lower()
    result = any(
        part in joined or part in plain for part in _SENSITIVE_PARTS
    ) or not _SENSITIVE_WORDS.isdisjoint(words)
    if len(_sensitive_cache) < 10_000:
        _sensitive_cache[name] = result
    return result


def _trie_pattern(values: Iterable[str]) -> str:
    """A regex matching any of ``values``, longest first, built from their trie (fast to run)."""
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        literal: list[str] = []
        while True:  # follow single-child chains without recursion (secrets can be long)
            keys = [k for k in node if k]
            if len(keys) == 1 and "" not in node:
                literal.append(re.escape(keys[0]))
                node = node[keys[0]]
                continue
            break
        if not keys:
            return "".join(literal)
        alternatives = [re.escape(k) + build(node[k]) for k in sorted(keys)]
        group = alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
        if "" in node:  # a value ends here; a longer one may continue (greedy: longest first)
            group = f"(?:{group})?"
        return "".join(literal) + group

    return build(trie)


class _Tier:
    """A batch of registered values and its two regexes (compiled on first use)."""

    __slots__ = ("_overlapping", "_plain", "values")

    def __init__(self, values: list[str]) -> None:
        self.values = values
        self._plain: re.Pattern[str] | None = None
        self._overlapping: re.Pattern[str] | None = None

    def plain(self) -> re.Pattern[str]:
        """Finds whether any value occurs (fast: the regex engine's prefix scan applies)."""
        if self._plain is None:
            self._plain = re.compile(_trie_pattern(self.values))
        return self._plain

    def overlapping(self) -> re.Pattern[str]:
        """Finds the longest value starting at every position, overlaps included."""
        if self._overlapping is None:
            self._overlapping = re.compile(f"(?=({_trie_pattern(self.values)}))")
        return self._overlapping


class _Registry:
    """The registered secret values and the regexes that find them in text.

    Values live in tiers, newest first, each with its own regexes; tiers merge like a binary counter
    (a new tier of one value merges with the next while it is at least as large), so registering a
    secret recompiles O(log n) values on average instead of all of them, and a message is scanned by
    O(log n) regexes. Text with no secret costs one fast search per tier. Text with secrets has every
    occurrence of every value located, overlaps included, and the union of those spans replaced: a
    secret inside a longer one, or two overlapping secrets, never leave a part visible.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Registered value -> True when it was registered as a secret with its variants (so
        # registering it again is one dict lookup). A dict, not two sets: ~40% less memory.
        self._values: dict[str, bool] = {}
        self._tiers: list[_Tier] = []

    def add(self, values: Iterable[str], secret: str | None = None) -> None:
        with self._lock:
            known = self._values
            tiers = list(self._tiers)
            for value in values:
                if len(value) < MIN_MASKED_LENGTH or value in known:
                    continue
                known[value] = False
                tiers.insert(0, _Tier([value]))
                while len(tiers) > 1 and len(tiers[0].values) >= len(tiers[1].values):
                    tiers[0:2] = [_Tier(tiers[0].values + tiers[1].values)]
            if secret is not None and secret in known:
                known[secret] = True
            self._tiers = tiers  # readers see the old list or the new one, never a mix

    def seen(self, secret: str) -> bool:
        return self._values.get(secret) is True

    def sub(self, text: str) -> str:
        tiers = self._tiers
        if not any(tier.plain().search(text) for tier in tiers):
            return text
        spans = sorted(
            match.span(1) for tier in tiers for match in tier.overlapping().finditer(text)
        )
        parts: list[str] = []
        position = 0
        start, end = spans[0]
        for span_start, span_end in spans[1:]:
            if span_start < end:  # overlapping: one span
                end = max(end, span_end)
                continue
            parts += (text[position:start], REDACTED)
            position, start, end = end, span_start, span_end
        parts += (text[position:start], REDACTED, text[end:])
        return "".join(parts)

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._tiers = []


_registry = _Registry()
# Characters that JSON, repr and URL quoting (quote/quote_plus with safe="") all leave unchanged.
_PLAIN_SECRET = re.compile(r"[A-Za-z0-9_.~\-]+")


def register(secret: str | None, *, variants: bool = True) -> None:
    """Register ``secret`` so it is masked in all text output from now on.

    With ``variants``, the forms it takes in output are registered too: URL-quoted (a password inside
    a URI), JSON-escaped and ``repr``-escaped. Empty values, non-strings and values shorter than
    :data:`MIN_MASKED_LENGTH` are ignored. Registering a known secret again is cheap.
    """
    if not isinstance(secret, str) or len(secret) < MIN_MASKED_LENGTH:
        return
    known = _registry._values.get(secret)
    if known is not None and (known or not variants):
        return  # registered already (with its variants, when they are asked for)
    if not variants:
        _registry.add((secret,))
        return
    if _PLAIN_SECRET.fullmatch(secret) is not None:  # every variant is the secret itself
        _registry.add((secret,), secret)
        return
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.add(repr(secret)[1:-1])
    try:
        forms.add(quote(secret, safe=""))
        forms.add(quote_plus(secret, safe=""))
    except UnicodeEncodeError:  # a lone surrogate has no URL form
        pass
    _registry.add(forms, secret)


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
        return _redact(value, 0)
    except Exception:
        return REDACTION_FAILED


# Free text written by SDKs before hookline knows the secret (botocore logs a GetSecretValue
# response body at DEBUG, before the connection inside is parsed and registered), and short values
# that are never registered: a value written after a sensitive key is hidden in text too, in the
# forms keys and values take in output: ``key=value`` (query strings, ``k=v`` lists), quoted
# ``"key": "value"`` / ``'key': 'value'`` (JSON, Python reprs), with quotes escaped to any depth
# (JSON inside a JSON string inside a ``bytes`` repr), ``<key>value</key>`` (XML answers), and the
# password of ``scheme://user:pw@host``.
_KEY_HINT = re.compile(_trie_pattern((*_SENSITIVE_PARTS, *_SENSITIVE_WORDS)))  # lower-cased text
_KEY_HINT_ANY_CASE = re.compile(_KEY_HINT.pattern, re.IGNORECASE)  # when lower() changes lengths
_KEYED_VALUE = re.compile(
    r"""
    (?<![\w.\-])(?P<key>[\w.\-]+)        # a key name
    (?:\\*["'])?                             # the quote closing it, maybe escaped
    [ \t]*(?P<sep>[:=])[ \t]*
    (?:b?(?P<quote>\\*["'])|(?=[^\s"'\\]))  # a quoted value (maybe escaped or bytes), or bare
    """,
    re.VERBOSE,
)
_XML_VALUE = re.compile(r"<(?P<key>[A-Za-z][\w.\-]*)>(?P<value>[^<]+)</(?P=key)>")
_BARE_VALUE = re.compile(r"[^\s&;,\"'<>()\[\]{}#\\]+")
_URL_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@\"'\\]*:)(?P<password>[^\s/?#\"'\\]+)(?=@)"
)


def _closing_quote(text: str, start: int, quote: str) -> int:
    """Where the quoted value starting at ``start`` ends: at ``quote`` (its last character the
    quote, the rest the backslashes escaping it at this depth) not preceded by one more backslash;
    the end of the line (or text) when it never closes."""
    position = start
    while True:
        found = text.find(quote, position)
        if found < 0:
            newline = text.find("\n", start)
            return len(text) if newline < 0 else newline
        if found == 0 or text[found - 1] != "\\":
            return found
        position = found + 1


def _xml_element(match: re.Match[str]) -> str:
    key = match.group("key")
    return f"<{key}>{REDACTED}</{key}>" if is_sensitive_key(key) else match.group(0)


def _redact_keyed_text(text: str) -> str:
    """Hide the values written after sensitive keys, and URL passwords, in free text."""
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(lambda m: m.group("head") + REDACTED, text)
    lowered = text.lower()
    if _KEY_HINT.search(lowered) is None:  # the common case: no sensitive word at all (fast)
        return text
    if "</" in text:  # XML elements (STS's AssumeRole answer: <SecretAccessKey>...</...>)
        text = _XML_VALUE.sub(_xml_element, text)
        lowered = text.lower()
    hints = (
        _KEY_HINT.finditer(lowered)
        if len(lowered) == len(text)
        else _KEY_HINT_ANY_CASE.finditer(text)
    )
    parts: list[str] = []
    position = 0
    checked = -1
    # Only keys holding a sensitive word can match: start from each hint, back to its key's start.
    for hint in hints:
        start = hint.start()
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            start -= 1
        if start <= checked or start < position:
            continue  # a second hint in the same key, or inside a value already hidden
        checked = start
        match = _KEYED_VALUE.match(text, start)
        if match is None or not is_sensitive_key(match.group("key")):
            continue
        value_start = match.end()
        quote = match.group("quote")
        if quote is not None:
            value_end = _closing_quote(text, value_start, quote)
        elif match.group("sep") == "=":  # bare values only in key=value form, not in prose
            bare = _BARE_VALUE.match(text, value_start)
            value_end = bare.end() if bare else value_start
        else:
            continue
        if value_end == value_start or text[value_start:value_end] == REDACTED:
            continue
        parts += (text[position:value_start], REDACTED)
        position = value_end
    if not parts:
        return text
    parts.append(text[position:])
    return "".join(parts)


def _redact(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        if _registry._values:
            value = _registry.sub(value)
        return _redact_keyed_text(value)
    if depth > _MAX_DEPTH:
        return REDACTED  # fail closed on absurdly deep (or cyclic) data
    if isinstance(value, Mapping):
        return _redact_mapping(value, depth + 1)
    if isinstance(value, list | set | frozenset):
        return type(value)(_redact(v, depth + 1) for v in value)
    if isinstance(value, tuple):
        items = [_redact(v, depth + 1) for v in value]
        if type(value) is tuple:
            return tuple(items)
        if hasattr(value, "_fields"):  # a namedtuple
            return type(value)(*items)
        return tuple(items)
    return value


def _redact_mapping(mapping: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in mapping.items():
        if value is not None and is_sensitive_key(key):
            out[key] = REDACTED
        else:
            out[key] = _redact(value, depth)
    return out


def redact_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``mapping`` where values under sensitive keys are ``***``, recursively, and
    registered secrets are masked in the other string values."""
    return _redact_mapping(mapping, 0)


# Attributes every LogRecord has; anything else came from ``extra=`` and is redacted by its name.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName", "_hookline_masked"}
)


def _redact_arg(arg: Any) -> Any:
    # Structured arguments are redacted by key; strings are masked after formatting.
    if isinstance(arg, Mapping | list | tuple | set | frozenset):
        return _redact(arg, 0)
    return arg


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in messages, arguments, ``extra=`` fields and exceptions.

    Arguments that are mappings are redacted by key (a ``password`` value is hidden whatever its
    length); the record's message is then rendered, masked and frozen (``args`` cleared) so formatters
    downstream see only the masked text. Exception and stack text are rendered and masked as well.
    Each record is processed once; on any failure the message becomes ``"<redaction failed>"``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_hookline_masked", False):
            return True
        try:
            self._mask(record)
        except Exception:
            record.msg = REDACTION_FAILED
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
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

    Filters on a logger do not run for records propagated from child loggers, so the filter is put on
    the handlers too (handlers added later are not covered: call it again). Calling it twice is harmless.

    With ``excepthooks`` (default), ``sys.excepthook`` and ``threading.excepthook`` are wrapped too,
    so the traceback of an uncaught exception is printed with registered secrets masked.
    """
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
        _install_excepthooks()
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


def _install_excepthooks() -> None:
    if _saved_hooks:
        return
    _saved_hooks.append((sys.excepthook, threading.excepthook))
    sys.excepthook = _masked_excepthook
    threading.excepthook = _masked_thread_excepthook


def uninstall() -> None:
    """Remove every filter and exception hook that :func:`install` attached (for tests)."""
    while _installed:
        filterer, masking_filter = _installed.pop()
        filterer.removeFilter(masking_filter)
    while _saved_hooks:
        sys.excepthook, threading.excepthook = _saved_hooks.pop()
