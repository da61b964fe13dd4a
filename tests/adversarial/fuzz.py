"""A seeded fuzzer for what users hand hookline as text: URIs, JSON, connections files, conn_ids.

Re-runs the input figures of the adversarial report (issue 12: 54,076 fuzzed URI/JSON/file inputs) as
code. Each input is a mutation of a valid one that carries :data:`CANARY` as its password (or under
a sensitive extra key); it is parsed the way hookline parses it, and the run counts:

* **untyped**: an exception that is not one of hookline's typed errors (:data:`TYPED`);
* **leaks**: the canary in ``str``/``repr`` of a typed error or of an exception a traceback would show
  with it (outside a URI's login, which is not a secret) when the input still holds it in a secret
  position, or in ``repr``/``str``/the redacted
  URI/``to_dict(redact=True)`` of a parsed connection whose password or sensitive extra holds it
  (unless a mutation moved it into a field that is shown: the host, the login, an extra's name).

``python -m tests.adversarial.fuzz [COUNT] [SEED]`` prints the figures; the test in this package runs
the same function with ``HOOKLINE_FUZZ_INPUTS`` inputs (20,000 by default).
"""

from __future__ import annotations

import json
import random
import re
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hookline import Connection, masking
from hookline.exceptions import ConfigurationError, ConnectionsFileError, InvalidConnection
from hookline.secrets.files import parse_connections_text
from hookline.secrets.ids import check_conn_id_path

__all__ = ["CANARY", "TYPED", "FuzzStats", "run"]

CANARY = "Xc4n4ryPw9Zq"
#: What a malformed input may raise: typed, with a message that names the problem.
TYPED: tuple[type[Exception], ...] = (InvalidConnection, ConnectionsFileError, ConfigurationError)

_SPECIALS = [
    ":", "/", "//", "@", "?", "#", "%", "%2", "%zz", "%00", "%2e%2e", "[", "]", "&", "=", "+", " ",
    "\x00", "\x01", "\x7f", "\n", "\r", "\t", "\\", "'", '"', "é", "\u2028", "\ud800", "\ufeff",
    "{", "}", ",", ";", "..", "__extra__=", "__extra__={", "-1", "99999999999", "0x1F", "::", "[::1]",
    "a" * 300, "\u202e", "\uff48\uff4f\uff53\uff54", "\uff0e\uff0e",
]  # fmt: skip
_SCHEMES = [
    "postgres",
    "mysql",
    "http",
    "https",
    "aws",
    "sqlite",
    "google-cloud-platform",
    "a.b-c+d",
    "x_y",
]
_EXTRA_KEYS = [
    "sslmode",
    "token",
    "api_key",
    "timeout",
    "X-Auth",
    "webhook",
    "nested",
    "region_name",
]


@dataclass
class FuzzStats:
    """What one run found.

    Attributes:
        inputs: How many inputs were tried, per target (``uri``, ``json``, ``file-json``...).
        parsed: How many parsed without error.
        typed: How many raised a typed error.
        untyped: Untyped exceptions by target and type, with one example input each.
        leaks: Canary leaks by target and place, with one example input each.
    """

    inputs: Counter[str] = field(default_factory=Counter)
    parsed: int = 0
    typed: int = 0
    untyped: dict[tuple[str, str], str] = field(default_factory=dict)
    untyped_count: int = 0
    leaks: dict[tuple[str, str], str] = field(default_factory=dict)
    leak_count: int = 0

    @property
    def total(self) -> int:
        return sum(self.inputs.values())

    def summary(self) -> str:
        per = ", ".join(f"{k} {v:,}" for k, v in sorted(self.inputs.items()))
        lines = [
            f"inputs fuzzed: {self.total:,} ({per})",
            f"parsed: {self.parsed:,}; typed errors: {self.typed:,}",
            f"untyped exceptions: {self.untyped_count}",
            f"canary leaks: {self.leak_count}",
        ]
        lines += [f"  untyped {k}: {v!r}" for k, v in self.untyped.items()]
        lines += [f"  leak {k}: {v!r}" for k, v in self.leaks.items()]
        return "\n".join(lines)


def _mutate(rng: random.Random, text: str, rounds: int) -> str:
    for _ in range(rounds):
        choice = rng.random()
        pos = rng.randint(0, len(text))
        if choice < 0.35:
            text = text[:pos] + rng.choice(_SPECIALS) + text[pos:]
        elif choice < 0.55 and text:
            end = min(len(text), pos + rng.randint(1, 4))
            text = text[:pos] + text[end:]
        elif choice < 0.7 and text:
            end = min(len(text), pos + rng.randint(1, 8))
            text = text[:pos] + text[pos:end] * rng.randint(2, 4) + text[end:]
        elif choice < 0.8:
            text = text[:pos]
        elif choice < 0.9:
            text = (
                text[:pos] + quote(text[pos : pos + 3], safe="", errors="replace") + text[pos + 3 :]
            )
        else:
            text = text[:pos] + chr(rng.randint(0, 0x2FFF)) + text[pos:]
    return text


def _uri(rng: random.Random) -> str:
    scheme = rng.choice(_SCHEMES)
    password = quote(CANARY + rng.choice(["", "@:/", "%", " é"]), safe="")
    extra = "&".join(
        f"{key}={quote(CANARY if rng.random() < 0.5 else 'v', safe='')}"
        for key in rng.sample(_EXTRA_KEYS, rng.randint(0, 3))
    )
    base = f"{scheme}://user:{password}@host.example:5432/db" + (f"?{extra}" if extra else "")
    return _mutate(rng, base, rng.randint(0, 4))


def _fields(rng: random.Random) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "conn_type": rng.choice(_SCHEMES),
        "host": "h",
        "login": "bob",
        "password": CANARY,
        "port": rng.choice([5432, "5432", "abc", -1, 2**70, 1.5, None, [1], {"a": 1}, True]),
        "schema": rng.choice(["db", 12, None, ["x"]]),
        "extra": rng.choice(
            [
                {"token": CANARY, "n": 1},
                json.dumps({"api_key": CANARY}),
                "not json {",
                [CANARY],
                {"nested": {"password": CANARY}},
                None,
                {"deep": [[[[{"secret": CANARY}]]]]},
            ]
        ),
    }
    for key in rng.sample(list(fields), rng.randint(0, 2)):
        del fields[key]
    if rng.random() < 0.2:  # fields that are not secrets get values that are not the canary
        fields[rng.choice(["uri", "extra_dejson", "conn_id", "bogus", "team_name"])] = rng.choice(
            ["zz", {"a": "zz"}, 1, "http://h"]
        )
    return fields


def _json(rng: random.Random) -> str:
    text = json.dumps(_fields(rng))
    return _mutate(rng, text, rng.randint(0, 3)) if rng.random() < 0.6 else text


def _file(rng: random.Random, fmt: str) -> str:
    entries = {f"c{i}": (_uri(rng) if rng.random() < 0.5 else _fields(rng)) for i in range(3)}
    if fmt == "json":
        text = json.dumps(entries, indent=2)
    elif fmt == "yaml":
        import yaml

        text = yaml.safe_dump(entries, allow_unicode=True)
    else:
        text = "".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}\n" for k, v in entries.items()
        )
    return _mutate(rng, text, rng.randint(0, 3))


def _conn_id(rng: random.Random) -> str:
    parts = ["warehouse", "admin", "..", ".", "", "a.b", "%2e", "\\", "\x00", "\uff0e", "db"]
    return "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))


def _targets(rng: random.Random) -> Iterator[tuple[str, str, Callable[[str], Any]]]:
    while True:
        roll = rng.random()
        if roll < 0.35:
            yield "uri", _uri(rng), lambda t: Connection.from_uri(t, conn_id="fz")
        elif roll < 0.6:
            yield "json", _json(rng), lambda t: Connection.from_json(t, conn_id="fz")
        elif roll < 0.9:
            fmt = rng.choice(["json", "yaml", "env"])
            yield f"file-{fmt}", _file(rng, fmt), lambda t, f=fmt: parse_connections_text(t, f)
        else:
            yield "conn_id", _conn_id(rng), lambda t: check_conn_id_path(t, backend="fuzz")


# The login of a URI quoted in an error (``scheme://LOGIN:***@host``): not a secret, and a mutation
# that percent-encodes the ':' after "user" moves the canary into it.
_LOGIN = re.compile(r"://[^:@/\s'\"]*")


# Where the fuzzer puts the canary as a secret: a URI's password (``://login:...CANARY...@``) or a
# value after a sensitive key (``password": "``, ``token=``, ``api_key: ``...). An error about an
# input whose mutations left the canary nowhere like that may quote it (it is a path, a host...).
_SECRET_SLOT = re.compile(
    r"://[^/?#\s@]*:[^/?#\s]*" + CANARY + r"[^/?#\s]*@"
    r"|(?:password|token|api_key|secret|x-auth|webhook)[\\\"']*\s*[:=]\s*[\\\"'\[]*" + CANARY,
    re.IGNORECASE,
)


def _holds_canary(value: Any) -> bool:
    return CANARY in str(value)


def _shown_legitimately(conn: Connection) -> bool:
    """Whether the canary sits in a field that is not secret (a mutation moved it into the host, a
    login or an extra's *name*): showing it there is no leak."""
    plain = (conn.conn_id, conn.conn_type, conn.host, conn.login, conn.schema, conn.description)
    return any(value and CANARY in value for value in plain) or _in_visible_extra(conn.extra)


def _in_visible_extra(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            CANARY in str(k) or (not masking.is_sensitive_key(k) and _in_visible_extra(v))
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_in_visible_extra(v) for v in value)
    return CANARY in str(value)


def _secret_fields_hold_canary(conn: Connection) -> bool:
    if conn.password and CANARY in conn.password:
        return True
    return any(
        masking.is_sensitive_key(key) and _holds_canary(value) for key, value in conn.extra.items()
    ) or _nested_secret(conn.extra)


def _nested_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            (masking.is_sensitive_key(k) and _holds_canary(v)) or _nested_secret(v)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_nested_secret(v) for v in value)
    return False


def _connection_views(conn: Connection) -> dict[str, str]:
    return {
        "repr": repr(conn),
        "str": str(conn),
        "redacted uri": conn.get_redacted_uri(),
        "to_dict(redact)": json.dumps(conn.to_dict(redact=True), default=str),
    }


def _error_views(exc: BaseException) -> dict[str, str]:
    views: dict[str, str] = {}
    seen: set[int] = set()
    current: BaseException | None = exc
    depth = 0
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        label = "error" if depth == 0 else f"chained {type(current).__name__}"
        views[f"{label} str"] = str(current)
        views[f"{label} repr"] = repr(current)
        # what a traceback shows: the cause, else the context unless it was suppressed (from None)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
        depth += 1
    views["traceback (masked)"] = masking.redact("".join(traceback.format_exception(exc)))
    return views


def run(count: int, seed: int = 12) -> FuzzStats:
    """Fuzz ``count`` inputs from ``seed``; return what was found (see the module docs)."""
    rng = random.Random(seed)
    stats = FuzzStats()
    targets = _targets(rng)
    for _ in range(count):
        name, text, parse = next(targets)
        stats.inputs[name] += 1
        try:
            result = parse(text)
        except TYPED as exc:
            stats.typed += 1
            if _SECRET_SLOT.search(text) is None:
                continue  # mutations moved the canary out of every secret position
            for place, shown in _error_views(exc).items():
                if CANARY in _LOGIN.sub("://", shown):
                    stats.leak_count += 1
                    stats.leaks.setdefault((name, place), text)
        except Exception as exc:  # the thing being counted
            stats.untyped_count += 1
            stats.untyped.setdefault((name, type(exc).__name__), text)
        else:
            stats.parsed += 1
            conns = list(result.values()) if isinstance(result, dict) else [result]
            for conn in conns:
                if not isinstance(conn, Connection) or not _secret_fields_hold_canary(conn):
                    continue
                if _shown_legitimately(conn):
                    continue
                for place, shown in _connection_views(conn).items():
                    if CANARY in shown:
                        stats.leak_count += 1
                        stats.leaks.setdefault((name, place), text)
    return stats


if __name__ == "__main__":
    args = sys.argv[1:]
    found = run(int(args[0]) if args else 60_000, int(args[1]) if len(args) > 1 else 12)
    print(found.summary())
    raise SystemExit(1 if found.untyped_count or found.leak_count else 0)
