"""Key rotation killed with SIGKILL at random points, then resumed: no connection is ever lost.

A child process rotates the SQLite metastore from key ``old`` to ``new`` (configured as ``new,old``)
in small batches; the parent kills it with SIGKILL after a random delay, checks that every row still
reads back with the configured keys, and repeats. A last run completes the rotation, after which the
new key alone reads every row.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hookline import DecryptionError
from hookline.exceptions import ListingIncomplete
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import FERNET_KEY_ENV, fingerprint, generate_key

ROWS = 300
ITERATIONS = 6

CHILD = textwrap.dedent(
    """
    import sys, time
    from hookline.secrets.metastore import MetastoreBackend

    home, batch_size, pause_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    store = MetastoreBackend(home=home)
    store.change_counter()  # open the database before announcing readiness
    print("ready", flush=True)

    def progress(done: int) -> None:
        print(done, flush=True)
        if pause_s:
            time.sleep(pause_s)

    print("total", store.rotate_keys(batch_size=batch_size, progress=progress), flush=True)
    """
)


def password_of(i: int) -> str:
    return f"c4n4ry-S3cret!-{i:04d}"


def key_ids(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as raw:
        rows = raw.execute("select key_id, count(*) from connection group by key_id").fetchall()
    return {str(k): int(n) for k, n in rows}


def check_all_readable(home: Path, keys: list[str]) -> None:
    store = MetastoreBackend(fernet_keys=keys, home=home)
    conns = {c.conn_id: c for c in store.list_connections()}
    store.close()
    assert len(conns) == ROWS
    for i in range(ROWS):
        conn = conns[f"conn_{i:04d}"]
        assert conn.password == password_of(i)
        assert conn.extra_dejson == {"token": f"tok-{i}", "index": i}


def run_child(
    home: Path, keys: list[str], batch_size: int, pause_s: float
) -> subprocess.Popen[str]:
    env = {**os.environ, FERNET_KEY_ENV: ",".join(keys)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), str(batch_size), str(pause_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


@pytest.mark.slow
def test_rotation_killed_at_random_points_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL during rotation (inside and between batches) never loses or corrupts a row."""
    from hookline import Connection

    home = tmp_path / "home"
    old, new = generate_key(), generate_key()
    seeding = MetastoreBackend(fernet_keys=old, home=home)
    for i in range(ROWS):
        seeding.set_connection(
            Connection(
                conn_id=f"conn_{i:04d}",
                conn_type="postgres",
                host="db",
                login="u",
                password=password_of(i),
                extra={"token": f"tok-{i}", "index": i},
            )
        )
    seeding.close()
    db = home / "hookline.db"
    assert key_ids(db) == {fingerprint(old): ROWS}
    rng = random.Random(os.getpid() ^ int(time.time()))
    keys = [new, old]
    rotated_before = 0
    kills = 0
    for iteration in range(ITERATIONS):
        # Alternate: a tight loop (the kill lands inside the next batch's transaction) and paced
        # batches (it lands between transactions or inside one).
        pause_s = 0.0 if iteration % 2 == 0 else 0.005
        batch_size = rng.choice([3, 5, 7])
        batches_left = -(-(ROWS - rotated_before) // batch_size)
        kill_after = rng.randint(1, max(1, batches_left // 4))
        proc = run_child(home, keys, batch_size=batch_size, pause_s=pause_s)
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == "ready", proc.stderr.read() if proc.stderr else first
        reported = 0
        for _ in range(kill_after):
            line = proc.stdout.readline().strip()
            if not line.isdigit():
                break
            reported = int(line)
        time.sleep(rng.uniform(0.0, 0.004))
        try:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        except ProcessLookupError:
            pass
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err
        check_all_readable(home, keys)
        counts = key_ids(db)
        assert sum(counts.values()) == ROWS
        assert set(counts) <= {fingerprint(old), fingerprint(new)}
        rotated_now = counts.get(fingerprint(new), 0)
        assert rotated_now >= rotated_before + reported  # committed batches survive the kill
        rotated_before = rotated_now
    assert kills > 0
    # Resume without interruption, then the new key alone reads everything.
    finisher = run_child(home, keys, batch_size=50, pause_s=0.0)
    out, err = finisher.communicate(timeout=120)
    assert finisher.returncode == 0, err
    assert out.splitlines()[-1] == f"total {ROWS - rotated_before}"
    assert key_ids(db) == {fingerprint(new): ROWS}
    check_all_readable(home, [new])
    with pytest.raises(ListingIncomplete) as info:
        check_all_readable(home, [old])
    assert len(info.value.conn_ids) == ROWS
    assert all(isinstance(f.error, DecryptionError) for f in info.value.failures)
    assert "... and 280 more" in str(info.value)
