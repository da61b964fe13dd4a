"""Redaction runs in time linear in the text (issue 12.5), checked by counting work, not by a clock.

Before the fix ``masking.redact(('secret' + 'a' * 50) * 2000)`` took 6.3 s and a 1 MB base64url
string 3.3 s: each sensitive word walked back to the start of its key, and a key can span the whole
text. ``hookline._redaction`` counts the characters each step of its scan examines when
``_work_meter`` is set; here that count must grow in proportion to the input (x4 input, at most
x4.4 work) and stay within a small multiple of its length. The wall-clock figure for 1 MB lives in
``bench/connection_ops.py``.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator

import pytest

from hookline import _redaction, masking


def _b64(n: int) -> str:
    return base64.b64encode(random.Random(n).randbytes(n * 3 // 4)).decode()


def _b64url(n: int) -> str:
    return base64.urlsafe_b64encode(random.Random(n).randbytes(n * 3 // 4)).decode()


# name -> text of roughly n characters built to stress one part of the scan
INPUTS: dict[str, Callable[[int], str]] = {
    "report: secret+a*50 repeated": lambda n: ("secret" + "a" * 50) * (n // 56),
    "report: base64": _b64,
    "base64url (one long key run)": _b64url,
    "key=value pairs": lambda n: "password=x " * (n // 11),
    "unclosed quotes, one per line": lambda n: '"password": "x\n' * (n // 15),
    "escaped quotes inside a value": lambda n: '"token": "' + '\\"' * (n // 2) + '"',
    "report input, then a separator": lambda n: ("secret" + "a" * 50) * (n // 56) + "=v",
    "base64url, then a separator": lambda n: _b64url(n) + "=v",
    "base64, then a separator": lambda n: _b64(n) + ":x",
    "hints in one run, no separator": lambda n: "password" * (n // 8),
    "hints in one run, a separator": lambda n: "password" * (n // 8) + ":",
    "a long key before '='": lambda n: "key" * (n // 3) + "=v",
    "value after a long run": lambda n: "x=" + "secret" * (n // 6),
    "dotted scheme-like run": lambda n: "a." * (n // 2) + "@://",
    "many @ after a userinfo": lambda n: "x://u:" + "@a" * (n // 2),
    "many URLs with passwords": lambda n: "s://u:pw@h " * (n // 11),
    "unterminated XML tags": lambda n: "<a>" * (n // 3) + "</",
    "XML elements with secrets": lambda n: "<Token>t</Token>" * (n // 16),
    "webhook URL with a long path": lambda n: "https://hooks.slack.com/services/" + "a" * n,
    "JSON dict of secrets": lambda n: "{" + '"api_key": "k", ' * (n // 16) + "}",
    "header lines": lambda n: "X-Auth: t\nHost: h\n" * (n // 17),
    "indented header-like keys, one line": lambda n: "  token: " * (n // 9),
}


@pytest.fixture
def meter() -> Iterator[Callable[[str], int]]:
    """``meter(text)``: the characters the scan examined while redacting ``text``."""

    def measure(text: str) -> int:
        _redaction._work_meter = [0]
        try:
            masking.redact(text)
            return _redaction._work_meter[0]
        finally:
            _redaction._work_meter = None

    yield measure
    _redaction._work_meter = None


@pytest.mark.parametrize("name", list(INPUTS))
def test_redaction_work_grows_linearly(name: str, meter: Callable[[str], int]) -> None:
    """Four times the input costs at most 4.4 times the work, and never more than 12 characters
    examined per input character."""
    small, large = INPUTS[name](20_000), INPUTS[name](80_000)
    work_small, work_large = meter(small), meter(large)
    assert work_small > 0
    assert work_large <= 4.4 * work_small * len(large) / (4 * len(small))
    assert work_large <= 12 * len(large)


def test_registered_secrets_are_scanned_once_per_tier(meter: Callable[[str], int]) -> None:
    """With secrets registered, the registry adds one pass per tier (O(log n) tiers)."""
    for i in range(100):
        masking.register(f"registered-secret-{i:03d}")
    masking.register("aaaaaaaaab")  # a long prefix of the text below at every position
    text = "a" * 80_000
    work = meter(text)
    tiers = len(_redaction._registry._tiers)
    assert tiers <= 8
    assert work <= (tiers + 4) * len(text)
    assert masking.redact("x aaaaaaaaab y") == "x *** y"


def test_the_report_inputs_are_still_redacted_correctly() -> None:
    """Linear, and still right: values after sensitive keys are hidden, keys without a value kept."""
    assert masking.redact("password=x password=y") == "password=*** password=***"
    text = ("secret" + "a" * 50) * 100
    assert masking.redact(text) == text  # one long name, no value: nothing to hide
    assert masking.redact(text + "=v") == text + "=***"
    url = _b64url(1000)
    assert masking.redact(f"token={url}") == "token=***"
