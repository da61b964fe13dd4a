"""The redaction engine behind :mod:`hookline.masking` (internals; use :mod:`hookline.masking`).

It decides which key names are sensitive, keeps the registry of secret values and finds them in text,
and hides values written after sensitive keys, URL passwords and webhook tokens in free text. Every
scan is linear in the length of the text (see :func:`_redact_keyed_text`). Logging integration lives
in :mod:`hookline.masking`, which re-exports the public names.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_MASKED_LENGTH",
    "REDACTED",
    "REDACTION_FAILED",
    "is_sensitive_key",
    "redact",
    "redact_mapping",
    "register",
    "registered_count",
    "reset",
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
_SENSITIVE_WORDS = frozenset({"key", "pass", "pwd", "webhook", "sig"})
# Words that mark a secret as the last of two or more words (``X-Auth``, ``basic_auth``,
# ``X-Amz-Signature``), but not alone (an ``auth`` settings table) nor before another word
# (``auth_type``, ``signature_version``).
_SENSITIVE_LAST_WORDS = frozenset({"auth", "signature"})
# Substrings that every sensitive name holds in lower case, however it is written (``api_key``,
# ``api-key``, ``apiKey``, ``connectionString``): the free-text scan looks for these first and asks
# is_sensitive_key only about the names around them. Few and short, so the scan is fast; a test
# checks that they cover every part and word above.
_HINT_WORDS = (
    "pass", "pwd", "secret", "token", "key", "auth", "credential", "bearer", "dsn", "cookie",
    "prox", "webhook", "sig", "connection", "service",
)  # fmt: skip
_NON_WORD = re.compile(r"[\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # fooBar, XAuth, APIKey
_sensitive_cache: dict[object, bool] = {}
_CACHED_NAME_MAX = 256  # longer names are checked each time, not kept


def is_sensitive_key(name: object) -> bool:
    """True when a value stored under ``name`` must be hidden (``password``, ``x-api-key``, ``key``...).

    The name is lower-cased with camelCase, non-word runs and ``_`` turned into word breaks. It is
    sensitive when it contains one of the sensitive parts (``password``, ``secret``, ``token``,
    ``api_key``, ``private_key``, ``credential``, ``webhook_url``, ...), has ``key``, ``pass``,
    ``pwd``, ``webhook`` or ``sig`` as a whole word (``key``, ``sas_key``, ``privateKey``,
    ``db_pwd``, ``slack_webhook``, but not ``keepalive`` or ``passive``), or ends with the word
    ``auth`` or ``signature`` after another word (``X-Auth``, ``basic_auth``, ``X-Amz-Signature``,
    but not ``auth`` alone, ``auth_type`` or ``signature_version``).
    """
    cached = _sensitive_cache.get(name)
    if cached is not None:
        return cached
    text = str(name)
    words = _NON_WORD.sub(" ", _CAMEL.sub(" ", text)).lower().split()
    joined = "_".join(words)
    plain = text.lower()
    result = (
        any(part in joined or part in plain for part in _SENSITIVE_PARTS)
        or not _SENSITIVE_WORDS.isdisjoint(words)
        or (len(words) > 1 and words[-1] in _SENSITIVE_LAST_WORDS)
    )
    if len(_sensitive_cache) < 10_000 and len(text) <= _CACHED_NAME_MAX:
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


# Work counter for the linear-time regression test (tests/unit/test_masking_linear.py): when a list,
# the scan adds the number of characters each step examines. None in normal use (no cost).
_work_meter: list[int] | None = None


def _meter(count: int) -> None:
    if _work_meter is not None:
        _work_meter[0] += count


class _Tier:
    """A batch of registered values and its two regexes (compiled on first use)."""

    __slots__ = ("_overlapping", "_plain", "values")

    def __init__(self, values: list[str]) -> None:
        self.values = values
        self._plain: re.Pattern[str] | None = None
        self._overlapping: re.Pattern[str] | None = None

    def plain(self) -> re.Pattern[str]:
        """Finds whether any value occurs (fast: the regex engine's prefix scan applies)."""
        plain = self._plain
        if plain is None:
            plain = self._plain = re.compile(_trie_pattern(self.values))
        return plain

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
        _meter(len(text) * len(tiers))
        for tier in tiers:  # a loop, not any(genexpr): this runs for every masked log record
            if tier.plain().search(text) is not None:
                break
        else:
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


def _nothing() -> None:
    pass


#: Called whenever a new secret is registered; :mod:`hookline.masking` sets it to switch log masking
#: on at the first secret.
after_add: Callable[[], None] = _nothing
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
    after_add()
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
# (JSON inside a JSON string inside a ``bytes`` repr), ``Key: value`` at the start of a line (HTTP
# headers, botocore's canonical request, YAML) up to the end of the line, ``<key>value</key>`` (XML
# answers), the password of ``scheme://user:pw@host`` and the token in a webhook URL's path.
#
# Every rule runs in time linear in the text (issue 12.5): each regex below either is anchored where
# only one scan can start (a lookbehind refusing the middle of a run) or uses possessive quantifiers,
# and the scan of sensitive keys visits each character a bounded number of times (a key's run is
# found once, from the last break before its first hint, and every later hint inside it is skipped).
_KEY_HINT = re.compile(_trie_pattern(_HINT_WORDS))  # on lower-cased text
_KEY_HINT_ANY_CASE = re.compile(_KEY_HINT.pattern, re.IGNORECASE)  # when lower() changes lengths
_KEY_RUN = re.compile(r"[\w.\-]++")  # a key name: its whole run, never re-scanned
_LAST_BREAK = re.compile(r"(?s:.*)[^\w.\-]")  # match(text, a, b): ends after the last break
_AFTER_KEY = re.compile(
    r"""
    (?:\\*+["'])?+                          # the quote closing the key, maybe escaped
    [ \t]*+(?P<sep>[:=])[ \t]*+
    (?:b?(?P<quote>\\*+["'])|(?=[^\s"'\\]))  # a quoted value (maybe escaped or bytes), or bare
    """,
    re.VERBOSE,
)
_XML_VALUE = re.compile(r"<(?P<key>[A-Za-z][\w.\-]*+)>(?P<value>[^<]++)</(?P=key)>")
_BARE_VALUE = re.compile(r"[^\s&;,\"'<>()\[\]{}#\\]++")
_URL_USERINFO = re.compile(
    r"(?P<head>(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*+://[^\s:/?#@\"'\\]*+:)"
    r"(?P<password>[^\s/?#\"'\\]+)(?=@)"
)
# Webhook URLs whose path is the credential: Slack (services/workflows/triggers), Discord, Microsoft
# Teams. Anyone holding the path can post, so it is hidden whatever key (if any) it is under.
_WEBHOOK_URL = re.compile(
    r"(?P<head>https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|(?:[\w-]+\.)?discord(?:app)?\.com/api/webhooks/[^/\s\"'<>]++/"
    r"|[\w.-]+\.webhook\.office\.com/webhookb2/))"
    r"(?P<token>[^\s\"'<>?#\\]++)",
    re.IGNORECASE,
)


def _closing_quote(text: str, start: int, quote: str, line_end: int) -> int:
    """Where the quoted value starting at ``start`` ends: at ``quote`` (its last character the
    quote, the rest the backslashes escaping it at this depth) not preceded by one more backslash,
    on the same line; the end of the line when it never closes there."""
    position = start
    while True:
        found = text.find(quote, position, line_end)
        if found < 0:
            _meter(line_end - position)
            return line_end
        _meter(found + len(quote) - position)
        if found == 0 or text[found - 1] != "\\":
            return found
        position = found + 1


def _starts_line(text: str, start: int) -> bool:
    """Whether only a little indentation (at most 16 spaces or tabs) precedes ``start`` on its line."""
    position = start
    while position > 0 and text[position - 1] in " \t" and start - position < 16:
        position -= 1
    return position == 0 or text[position - 1] == "\n"


def _xml_element(match: re.Match[str]) -> str:
    key = match.group("key")
    return f"<{key}>{REDACTED}</{key}>" if is_sensitive_key(key) else match.group(0)


def _redact_urls(text: str, lowered: str) -> str:
    """Hide URL passwords (``scheme://user:pw@host``) and webhook URL tokens."""
    _meter(len(text))
    if "@" in text:
        text = _URL_USERINFO.sub(lambda m: m.group("head") + REDACTED, text)
    if "hooks.slack.com" in lowered or "discord" in lowered or "webhook.office.com" in lowered:
        text = _WEBHOOK_URL.sub(lambda m: m.group("head") + REDACTED, text)
    return text


def _redact_keyed_text(text: str) -> str:
    r"""Hide the values written after sensitive keys, URL passwords and webhook tokens in free text.

    Linear in ``len(text)``: hints (sensitive words) are searched from a position that only moves
    forward; a hint's key is the run of ``[\w.-]`` around it, found once, and the scan resumes after
    that run (or after the value it hid), so no character is part of two key scans.
    """
    _meter(len(text))
    if "=" not in text and ":" not in text and "</" not in text:
        return text  # no separator: no key has a value here, and there is no URL
    lowered = text.lower()
    if "://" in text:
        masked = _redact_urls(text, lowered)
        if masked is not text:
            text, lowered = masked, masked.lower()
    same_length = len(lowered) == len(text)
    hints, subject = (_KEY_HINT, lowered) if same_length else (_KEY_HINT_ANY_CASE, text)
    _meter(len(text))
    hint = hints.search(subject)
    if hint is None:  # the common case: no sensitive word at all (fast)
        return text
    if "</" in text:  # XML elements (STS's AssumeRole answer: <SecretAccessKey>...</...>)
        text = _XML_VALUE.sub(_xml_element, text)
        _meter(len(text))
        lowered = text.lower()
        same_length = len(lowered) == len(text)
        hints, subject = (_KEY_HINT, lowered) if same_length else (_KEY_HINT_ANY_CASE, text)
        hint = hints.search(subject)
    parts: list[str] = []
    position = 0  # text before this is in parts (or hidden)
    scanned = 0  # keys are never looked for before this: the runs and values already seen
    line_end = -1
    while hint is not None:
        at = hint.start()
        # The key holding this hint starts after the last character that cannot be in a key name
        # (``scanned`` always sits on one, or at 0).
        floor = scanned
        start = floor
        if at > floor:
            back = _LAST_BREAK.match(text, floor, at)
            start = back.end() if back is not None else floor
            _meter(at - floor)
        run = _KEY_RUN.match(text, start)
        run_end = run.end() if run is not None else at + 1
        _meter(run_end - start)
        scanned = run_end
        after = _AFTER_KEY.match(text, run_end) if run is not None else None
        if after is not None and is_sensitive_key(text[start:run_end]):
            value_start = after.end()
            quote = after.group("quote")
            value_end = value_start
            if quote is not None:
                if line_end < value_start:
                    line_end = text.find("\n", value_start)
                    if line_end < 0:
                        line_end = len(text)
                    _meter(line_end - value_start)
                value_end = _closing_quote(text, value_start, quote, line_end)
            elif after.group("sep") == "=":  # bare values only in key=value form, not in prose
                bare = _BARE_VALUE.match(text, value_start)
                value_end = bare.end() if bare else value_start
                _meter(value_end - value_start)
            elif _starts_line(text, start):  # ``Name: value`` header or canonical-request line
                value_end = text.find("\n", value_start)
                if value_end < 0:
                    value_end = len(text)
                _meter(value_end - value_start)
                if text[value_end - 1 : value_end] == "\r":
                    value_end -= 1
            if value_end > value_start and text[value_start:value_end] != REDACTED:
                parts += (text[position:value_start], REDACTED)
                position = value_end
            scanned = max(scanned, value_end)
        hint = hints.search(subject, scanned)
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
