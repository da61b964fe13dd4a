"""The adversarial report's input figures as a test: fuzzed URI, JSON, file and conn_id inputs raise
only typed errors and never show the canary password (issue 12).

``HOOKLINE_FUZZ_INPUTS`` sets how many inputs (default 20,000: about 10 s); ``HOOKLINE_FUZZ_SEED``
the seed. ``python -m tests.adversarial.fuzz 60000`` prints the figures for a longer run.
"""

from __future__ import annotations

import os

import pytest

from tests.adversarial.fuzz import run

pytestmark = pytest.mark.adversarial


def test_fuzzed_inputs_raise_only_typed_errors_and_leak_nothing() -> None:
    """Every input parses or raises InvalidConnection/ConnectionsFileError/ConfigurationError, and
    no error, repr, str, redacted URI or redacted dict shows the canary password."""
    count = int(os.environ.get("HOOKLINE_FUZZ_INPUTS", "20000"))
    seed = int(os.environ.get("HOOKLINE_FUZZ_SEED", "12"))
    stats = run(count, seed)
    assert stats.total == count
    assert stats.parsed > count // 10  # the mutations leave many inputs valid
    assert stats.typed > count // 10  # and break many others
    assert stats.untyped_count == 0, stats.summary()
    assert stats.leak_count == 0, stats.summary()
