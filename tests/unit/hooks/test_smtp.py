"""Unit tests of SmtpHook's option reading: one boolean parser, typed errors for malformed extras."""

from __future__ import annotations

from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import InvalidConnection
from hookline.hooks.smtp import SmtpHook

CANARY = "c4n4ry-S3cret!"


def make(extra: dict[str, Any], **fields: Any) -> SmtpHook:
    return SmtpHook(
        Connection(
            conn_id="mail",
            conn_type="smtp",
            host="smtp.example.com",
            password=CANARY,
            extra=extra,
            **fields,
        )
    )


@pytest.mark.parametrize(
    ("extra", "read"),
    [
        ({"use_ssl": "maybe"}, "use_ssl"),
        ({"disable_ssl": "perhaps"}, "use_ssl"),
        ({"use_starttls": 2}, "use_starttls"),
        ({"disable_tls": "sometimes"}, "use_starttls"),
        ({"ssl_verify": "unsure"}, "ssl_verify"),
        ({"retry_limit": "two"}, "retry_limit"),
        ({"timeout_s": "soon"}, "timeout_s"),
    ],
)
def test_malformed_extras_are_invalid_connection(extra: dict[str, Any], read: str) -> None:
    """ "maybe" is neither true nor false: an error naming the key (it was silently False)."""
    hook = make(extra)
    reads = {
        "use_ssl": lambda: hook.use_ssl,
        "use_starttls": lambda: hook.use_starttls,
        "ssl_verify": hook.ssl_context,
        "retry_limit": lambda: hook.retry_limit,
        "timeout_s": lambda: hook.timeout_s,
    }
    with pytest.raises(InvalidConnection, match=next(iter(extra))) as info:
        reads[read]()
    assert CANARY not in str(info.value)


@pytest.mark.parametrize(
    ("extra", "use_ssl", "use_starttls"),
    [
        ({"use_ssl": "yes"}, True, False),
        ({"use_ssl": "off", "use_starttls": "ON"}, False, True),
        ({"disable_ssl": "false"}, True, False),
        ({"disable_tls": "true"}, False, False),
    ],
)
def test_boolean_words(extra: dict[str, Any], use_ssl: bool, use_starttls: bool) -> None:
    """true/false, yes/no, on/off and 1/0 in any case, as every hookline option."""
    hook = make(extra)
    assert (hook.use_ssl, hook.use_starttls) == (use_ssl, use_starttls)
