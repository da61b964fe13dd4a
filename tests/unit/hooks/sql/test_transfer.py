"""The bulk file format (PostgreSQL's COPY text format), COPY statement directions, atomic output."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline import HookError
from hookline.hooks.sql.transfer import atomic_output, copy_direction, decode_line, encode_row


def test_rows_round_trip_through_the_copy_text_format() -> None:
    """Tabs, newlines, carriage returns and backslashes are escaped; NULL is \\N; booleans t/f;
    bytes as \\\\x hex; decode_line reverses the text escapes."""
    row = (1, "a\tb", "line\nbreak\r", "back\\slash", None, True, False, 2.5, "\u00e9")
    line = encode_row(row)
    assert line == "1\ta\\tb\tline\\nbreak\\r\tback\\\\slash\t\\N\tt\tf\t2.5\t\u00e9\n"
    assert decode_line(line) == (
        "1",
        "a\tb",
        "line\nbreak\r",
        "back\\slash",
        None,
        "t",
        "f",
        "2.5",
        "\u00e9",
    )
    assert encode_row([b"\x00\xff"]) == "\\\\x00ff\n"
    assert decode_line("x") == ("x",)
    assert decode_line("\\N\t\n") == (None, "")


def test_copy_direction() -> None:
    """FROM STDIN loads, TO STDOUT writes (any case, any spacing); anything else is a HookError."""
    assert copy_direction("COPY t FROM STDIN", "c") == "in"
    assert copy_direction("copy (select 1) to\n stdout with csv", "c") == "out"
    with pytest.raises(HookError, match="FROM STDIN") as info:
        copy_direction("copy t from '/etc/passwd'", "c")
    assert info.value.conn_id == "c"


def test_atomic_output_replaces_only_when_complete(tmp_path: Path) -> None:
    """A write that fails leaves the old file as it was and no temporary file behind."""
    target = tmp_path / "dump.tsv"
    target.write_text("old\n")

    def fail_midway() -> None:
        with atomic_output(target, "w") as out:
            out.write("partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert target.read_text() == "old\n"
    with atomic_output(target, "wb") as out:
        out.write(b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["dump.tsv"]
