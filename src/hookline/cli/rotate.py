"""``hookline rotate``: rotate a connection's credentials (or every connection that is due).

* ``hookline rotate CONN_ID [CONN_ID...]``: rotate now (or finish an interrupted rotation);
* ``hookline rotate --due``: every connection whose ``rotation_interval_s`` (extra, or
  ``[rotation] interval_s`` for those in ``[rotation] connections``) has passed since its last
  rotation: for cron or a scheduler;
* ``--dry-run``: say what would run, change nothing;
* ``--strategy NAME``: override the connection's strategy for this run.

One line per connection (``rotated``, ``would rotate``, ``FAILED at <step>``), never a secret.
The exit code is 1 when any rotation failed, after trying every one.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hookline.cli import common, render
from hookline.cli.common import CliFailure
from hookline.exceptions import HooklineError, RotationError

__all__ = ["rotate"]


def _describe(step: str | None) -> str:
    return "" if step is None else f" (resumed after {step!r})"


def rotate(
    conn_ids: Annotated[
        list[str] | None, typer.Argument(help="The connections to rotate.", show_default=False)
    ] = None,
    due: Annotated[
        bool, typer.Option("--due", help="Rotate every connection whose interval has passed.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would run; change nothing.")
    ] = False,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", help="Use this rotation strategy instead of the configured one."
        ),
    ] = None,
    verbose: common.VerboseOption = 0,
) -> None:
    """Rotate credentials: create, set, test and finish a new password (zero downtime)."""
    from hookline.rotation import Rotator

    ids = list(dict.fromkeys(conn_ids or []))
    if due == bool(ids):
        raise CliFailure("give connection ids or --due (one of the two)")
    rotator = Rotator(common.chain())
    out = common.out_console()
    if due:
        found = rotator.due()
        if not found:
            render.write_text(out, "no connection is due for rotation")
            return
        ids = [conn_id for conn_id, _, _ in found]
    failures: list[str] = []
    for conn_id in ids:
        try:
            result = rotator.rotate(conn_id, strategy=strategy, dry_run=dry_run)
        except RotationError as exc:
            failures.append(f"{conn_id}: FAILED at {exc.step}: {exc}")
            render.write_text(out, f"{conn_id}: FAILED at {exc.step}")
            continue
        except HooklineError as exc:
            failures.append(f"{conn_id}: FAILED: {exc}")
            render.write_text(out, f"{conn_id}: FAILED")
            continue
        steps = ", ".join(result.steps)
        if dry_run:
            line = f"{conn_id}: would rotate with {result.strategy} in {result.backend}: {steps}"
        else:
            line = f"{conn_id}: rotated with {result.strategy} in {result.backend}: {steps}"
        render.write_text(out, line + _describe(result.resumed_from))
    if failures:
        raise CliFailure(f"{len(failures)} of {len(ids)} rotation(s) failed", failures)
