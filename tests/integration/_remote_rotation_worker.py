"""Subprocess helper of tests/integration/test_rotation_remotes.py (not a test module).

``python -m tests.integration._remote_rotation_worker STEP CONN_ID``: build an AWS Secrets Manager
backend from the JSON settings in ``HOOKLINE_TEST_REMOTE``, rotate CONN_ID stored there, and SIGKILL
this process right after STEP (``alter`` = the server change before ``set`` is recorded, ``set``,
``test``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from hookline.connection import Connection
from hookline.resolve.chain import SecretsChain
from hookline.rotation import Rotator, strategies
from hookline.secrets.aws import AwsSecretsManagerBackend


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(wanted: str, conn_id: str) -> None:
    backend = AwsSecretsManagerBackend(**json.loads(os.environ["HOOKLINE_TEST_REMOTE"]))
    put = AwsSecretsManagerBackend.put_pending

    def put_pending(self: Any, conn: Connection, *, token: str, step: str) -> None:
        put(self, conn, token=token, step=step)
        if step == wanted:
            _die()

    AwsSecretsManagerBackend.put_pending = put_pending  # type: ignore[method-assign]
    if wanted == "alter":
        original = strategies.SingleUser.set

        def set_then_die(self: Any, current: Connection, pending: Connection) -> None:
            original(self, current, pending)
            _die()

        strategies.SingleUser.set = set_then_die  # type: ignore[method-assign]
    Rotator(SecretsChain([backend])).rotate(conn_id)
    sys.exit(3)  # never reached when the kill point was passed


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
