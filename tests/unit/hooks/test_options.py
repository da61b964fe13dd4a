"""The connection options hooks read the same way (hookline.hooks._options)."""

from __future__ import annotations

from typing import Any

import pytest

from hookline.exceptions import InvalidConnection
from hookline.hooks._options import retry_limit_option, timeout_s_option


@pytest.mark.parametrize(
    ("argument", "extra", "expected"),
    [
        (5.0, {"timeout_s": 7, "timeout": 9}, 5.0),
        (None, {"timeout_s": "7", "timeout": 9}, 7.0),
        (None, {"timeout_s": None, "timeout": "9"}, 9.0),
        (None, {}, 30.0),
    ],
)
def test_timeout_s_argument_then_timeout_s_then_timeout_then_default(
    argument: float | None, extra: dict[str, Any], expected: float
) -> None:
    assert timeout_s_option(argument, extra, conn_id="c", default=30.0) == expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout_s": "soon"}, "timeout_s must be a number >= 0.0, got 'soon'"),
        ({"timeout": -1}, "timeout must be a number >= 0.0, got -1"),
    ],
)
def test_bad_timeout_names_the_extra_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConnection) as caught:
        timeout_s_option(None, extra, conn_id="c", default=30.0)
    assert message in str(caught.value)


def test_retry_limit_argument_then_extra_then_default() -> None:
    assert retry_limit_option(0, {"retry_limit": 4}, conn_id="c", default=2) == 0
    assert retry_limit_option(None, {"retry_limit": "4"}, conn_id="c", default=2) == 4
    assert retry_limit_option(None, {}, conn_id="c", default=2) == 2


@pytest.mark.parametrize("value", [-1, "two", True, 1.5])
def test_bad_retry_limit_is_invalid_connection(value: object) -> None:
    with pytest.raises(InvalidConnection, match="retry_limit must be") as caught:
        retry_limit_option(None, {"retry_limit": value}, conn_id="c", default=2)
    assert caught.value.conn_id == "c"
