"""hookline-only rows for secret masking (issue 12.5 and the default log masking of 12.7/13.5).

* ``masking.redact`` of large log lines: a 1 MB base64 string (target ≤ 50 ms), a 1 MB base64url
  string (one 1 MB run of key characters), the adversarial report's input
  ``('secret' + 'a' * 50) * 2000`` (6.3 s before the fix), and 1 MB of ``password=x`` pairs (every
  value hidden: the most work per character);
* linear growth: the 1 MB base64url time against four times the 256 KB time (1.0x is linear; the
  quadratic code gave about 4x);
* the cost of default masking per log record: creating a record through the masking record factory,
  with 1,000 secrets registered, against the plain ``logging.LogRecord`` factory.

Every factory runs in a fresh hookline worker process (:mod:`bench.worker`); the large inputs are
built from a fixed seed, so every run measures the same text.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from bench import processes
from bench.processes import Side
from bench.report import Row, Target

__all__ = ["OPS", "rows"]

MB = 1_000_000
LARGE_SAMPLES_MAX = 30  # 1 MB inputs: enough samples for a stable median, in seconds not minutes


def base64_text(size: int, *, urlsafe: bool = False) -> str:
    """A log line of ``size`` characters: ``Response body: b'...'`` around base64 (or base64url) of
    seeded random bytes (the ':' makes every text rule run: no short cut for lines without one)."""
    raw = random.Random(size).randbytes(size * 3 // 4)
    body = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return f"Response body: b'{body}'"[:size]


def _registered(count: int = 1_000) -> None:
    from hookline import masking

    for i in range(count):
        masking.register(f"registered-secret-{i:05d}-value")


def _timed(
    make_text: Callable[[], str], registered: int = 0
) -> Callable[[dict[str, Any], int], list[float]]:
    """A "value" op: seconds per ``masking.redact`` of one fixed text, few samples."""

    def factory(params: dict[str, Any], samples: int) -> list[float]:
        from hookline import masking

        if registered:
            _registered(registered)
        text = make_text()
        masking.redact(text)  # warm-up: regexes compiled
        out = []
        for _ in range(max(3, min(samples, LARGE_SAMPLES_MAX))):
            start = time.perf_counter()
            masking.redact(text)
            out.append(time.perf_counter() - start)
        return out

    return factory


def _four_times(make_text: Callable[[], str]) -> Callable[[dict[str, Any], int], list[float]]:
    """Four times the time of one redaction (compared with one of a text four times as long)."""
    timed = _timed(make_text)

    def factory(params: dict[str, Any], samples: int) -> list[float]:
        return [4 * sample for sample in timed(params, samples)]

    return factory


def _record_factory(masked: bool) -> Callable[[dict[str, Any]], Callable[[], object]]:
    """A "calls" op: create one log record (100-character message, one argument)."""

    def factory(params: dict[str, Any]) -> Callable[[], object]:
        from hookline import masking

        if masked:
            _registered()
            assert masking.is_active()
        make = logging.getLogRecordFactory() if masked else logging.LogRecord
        message = "GET https://api.example.com/v1/items?page=%s took 12 ms (status 200, 3 items)"
        path = __file__

        def op() -> object:
            return make("bench", logging.DEBUG, path, 1, message, (7,), None)

        return op

    return factory


OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "redact_base64_1mb": ("value", {"hookline": _timed(lambda: base64_text(MB))}),
    "redact_base64_1mb_registered": (
        "value",
        {"hookline": _timed(lambda: base64_text(MB), registered=1_000)},
    ),
    "redact_base64url_1mb": ("value", {"hookline": _timed(lambda: base64_text(MB, urlsafe=True))}),
    "redact_base64url_256kb_x4": (
        "value",
        {"hookline": _four_times(lambda: base64_text(MB // 4, urlsafe=True))},
    ),
    "redact_report_input": ("value", {"hookline": _timed(lambda: ("secret" + "a" * 50) * 2000)}),
    "redact_pairs_1mb": ("value", {"hookline": _timed(lambda: "password=x " * (MB // 11))}),
    "record_masked": ("calls", {"hookline": _record_factory(True)}),
    "record_plain": ("calls", {"hookline": _record_factory(False)}),
}


def _one(hl: Side, op: str, samples: int, warmup: int) -> list[float] | str:
    got = processes.run_worker(
        hl, [{"module": __name__, "op": op, "params": {}}], samples=samples, warmup=warmup
    )[op]
    return list(got["samples"]) if "samples" in got else str(got["error"])


def rows(hl: Side, af: Side | None, s: Any) -> list[Row]:
    """Measure every op, each in its own fresh worker process (hookline only: ``af`` is unused)."""
    g = "Masking (hookline only)"
    res = {op: _one(hl, op, s.samples, s.warmup) for op in OPS}
    out: list[Row] = []

    def add(name: str, hl_res: Any, other: Any = None, label: str = "", **kw: Any) -> None:
        row = Row(group=g, name=name, other_label=label, **kw)
        row.set_side("hookline", hl_res)
        row.set_side("other", other)
        out.append(row)

    add(
        "redact a 1 MB base64 log line",
        res["redact_base64_1mb"],
        target=Target("≤ 50 ms", max_value=0.05),
        note="`masking.redact(text)` of a 1,000,000-character line `Response body: b'<base64 of seeded random bytes>'`, no secret registered; 3.3 s for such a line before the linear rewrite.",
    )
    add(
        "redact a 1 MB base64 log line, 1,000 secrets registered",
        res["redact_base64_1mb_registered"],
        target=Target("≤ 50 ms", max_value=0.05),
        note="the same text with 1,000 distinct 30-character secrets registered (none occurs in it).",
    )
    add(
        "redact a 1 MB base64url log line (one 1 MB key-like run)",
        res["redact_base64url_1mb"],
        res["redact_base64url_256kb_x4"],
        "4 x the 256 KB time",
        target=Target("≤ 50 ms", max_value=0.05),
        note="base64url has no `+` or `/`, so the body is one run of key characters holding many sensitive words (`key`, `pwd`, `dsn`...); the quadratic code walked back to the start of the run for each one. Compared with four times the time of a 256 KB line: 1.0x means linear growth.",
    )
    add(
        "redact the report's input ('secret' + 'a' * 50) * 2000",
        res["redact_report_input"],
        note="112,000 characters, 2,000 sensitive words in one run; 6.3 s before the fix.",
    )
    add(
        "redact 1 MB of `password=x` pairs (every value hidden)",
        res["redact_pairs_1mb"],
        note="90,909 sensitive keys, each value hidden: the most work per character; linear, but one Python step per key.",
    )
    add(
        "create a log record, masking on (1,000 secrets registered)",
        res["record_masked"],
        res["record_plain"],
        "plain LogRecord factory",
        note="`logging.getLogRecordFactory()(...)` with default masking active (the record is rendered and masked when created) against `logging.LogRecord(...)`: the price of masking every record by default; a record is created only when its logger's level lets it through.",
    )
    return out
