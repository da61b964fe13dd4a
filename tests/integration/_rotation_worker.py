"""Subprocess helper of the rotation integration tests (not a test module).

``python -m tests.integration._rotation_worker kill STEP CONN_ID``: rotate CONN_ID and SIGKILL this
process right after STEP (``create``, ``alter`` = the server change before ``set`` is recorded,
``set``, ``test``, ``promote``).

``python -m tests.integration._rotation_worker loop SECONDS INTERVAL CONN_ID``: warm up, print
``ready``, wait for a line on stdin, then rotate CONN_ID every INTERVAL seconds for SECONDS; print
the number of rotations (and each one's duration on stderr).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from hookline.connection import Connection
from hookline.rotation import Rotator, strategies
from hookline.secrets.metastore import MetastoreBackend


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after(step: str, conn_id: str) -> None:
    put = MetastoreBackend.put_pending
    promote = MetastoreBackend.promote_pending

    def put_pending(self: MetastoreBackend, conn: Connection, *, token: str, step: str) -> None:
        put(self, conn, token=token, step=step)
        if step == wanted:
            _die()

    def promote_pending(self: MetastoreBackend, conn_id: str, token: str) -> None:
        promote(self, conn_id, token)
        if wanted == "promote":
            _die()

    wanted = step
    MetastoreBackend.put_pending = put_pending  # type: ignore[method-assign]
    MetastoreBackend.promote_pending = promote_pending  # type: ignore[method-assign]
    if step == "alter":
        for cls in (strategies.SingleUser, strategies.AlternatingUsers):
            original = cls.set

            def set_then_die(
                self: Any, current: Connection, pending: Connection, _o: Any = original
            ) -> None:
                _o(self, current, pending)
                _die()

            cls.set = set_then_die  # type: ignore[method-assign]
    Rotator().rotate(conn_id)
    sys.exit(3)  # never reached when the kill point was passed


def loop(seconds: float, interval: float, conn_id: str) -> None:
    rotator = Rotator()
    rotator.rotate(conn_id, dry_run=True)  # imports and connects before the clock starts
    import psycopg  # noqa: F401 - warm-up
    import sqlalchemy  # noqa: F401 - warm-up

    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        rotator.rotate(conn_id)
        count += 1
        print(f"rotation {count}: {time.monotonic() - started:.3f} s", file=sys.stderr)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    print(count)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "kill":
        kill_after(args[0], args[1])
    else:
        loop(float(args[0]), float(args[1]), args[2])
