"""Write docs/cli.md, the ``hookline`` command reference, from the typer app itself.

Run ``make docs`` (or ``python scripts/gen_cli_docs.py``) after changing a command, an option or a
help text; ``python scripts/gen_cli_docs.py --check`` exits 1 when the file is out of date (a unit
test runs the same check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "cli.md"

PREAMBLE = """\
# hookline CLI reference

<!-- Generated from the typer app by scripts/gen_cli_docs.py (`make docs`); do not edit by hand.
     tests/unit/cli/test_docs.py fails when this file is out of date. -->

Install the command with the `cli` extra: `pip install "hookline[cli]"` (without it, `hookline`
prints which extra to install). Shell completion: `hookline --install-completion`.

**Exit codes**: 0 on success; 1 on an expected failure (not found, invalid input or configuration,
a backend error, an incomplete `list`/`export` without `--partial`), printed as masked `error:`
lines on stderr without a traceback; 2 on a usage error.

**Output** is redacted unless `--show-secrets`: passwords, sensitive extras and credentials in URLs
are `***`. `-v`/`--verbose` (info) and `-vv` (debug) send masked logs to stderr and are accepted
before or after the command.

**Environment**: `HOOKLINE_HOME` (default `~/.hookline`: `hookline.toml`, the SQLite metastore, the
key file), `HOOKLINE_CONFIG` (another config file), `HOOKLINE_FERNET_KEY` (comma-separated keys, the
first encrypts), `HOOKLINE_<SECTION>__<KEY>` (any setting, e.g. `HOOKLINE_CACHE__TTL_SECONDS=60`),
`HOOKLINE_CONN_<ID>` / `AIRFLOW_CONN_<ID>` (connections). `hookline config check` validates all of
it and reaches every configured backend.

"""


def render() -> str:
    """The whole reference, as Markdown."""
    import typer
    from typer.cli import get_docs_for_click

    from hookline.cli.app import app

    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="hookline")
    body = get_docs_for_click(obj=command, ctx=ctx, name="hookline", title="`hookline`")
    return PREAMBLE + body.strip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
