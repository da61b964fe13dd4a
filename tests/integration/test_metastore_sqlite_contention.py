"""Several processes writing one SQLite metastore at once (issue 12.10): "database is locked" after
SQLite's busy timeout is retried within ``lock_timeout_s``, then reported as a typed error.

The writers run with a 1 ms SQLite busy timeout, so the lock is contended far more often than with
the default 5 s: without the retry most of their writes failed; with it, none may.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hookline import BackendUnavailable, Connection
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import FERNET_KEY_ENV, generate_key

WRITERS = 5
WRITES = 120

WRITER = textwrap.dedent(
    """
    import json, sys
    from hookline import Connection, HooklineError
    from hookline.secrets.metastore import MetastoreBackend

    home, worker, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = MetastoreBackend(home=home, connect_args={"timeout": 0.001})
    failures = []
    for i in range(writes):
        conn = Connection(conn_id=f"w{worker}_{i:04d}", conn_type="http", host=f"h{i}", password="pw")
        try:
            if i % 10 == 9:
                store.set_connections([conn, conn.replace(conn_id=conn.conn_id + "_b")])
            else:
                store.set_connection(conn)
        except HooklineError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
    store.close()
    print(json.dumps(failures))
    """
)


@pytest.mark.slow
def test_concurrent_writer_processes_lose_no_write(tmp_path: Path) -> None:
    """5 processes x 120 writes (busy timeout 1 ms) while a reader process polls: every write lands
    (retried while locked), none raises, and every row reads back."""
    home = tmp_path / "home"
    key = generate_key()
    MetastoreBackend(fernet_keys=key, home=home).set_connection(
        Connection(conn_id="seed", conn_type="http")
    )
    env = {**os.environ, FERNET_KEY_ENV: key}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), str(w), str(WRITES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(WRITERS)
    ]
    reader = MetastoreBackend(fernet_keys=key, home=home)
    reads = 0
    while any(p.poll() is None for p in procs):
        reader.get_connection("w0_0000")
        reader.change_counter()
        reads += 1
    failures: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        failures += json.loads(out.strip().splitlines()[-1])
    assert failures == []
    expected = 1 + WRITERS * (WRITES + WRITES // 10)
    assert len(list(reader.list_connections())) == expected
    assert reads > 0
    reader.close()


def test_a_lock_held_past_lock_timeout_is_a_typed_error_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    """Another process holds the write lock for 3 s; a write with lock_timeout_s=0.5 gives up after
    about 0.5 s with BackendUnavailable saying what to do, writes nothing, and works once the lock
    is released."""
    home = tmp_path / "home"
    key = generate_key()
    store = MetastoreBackend(fernet_keys=key, home=home, lock_timeout_s=0.5)
    store.set_connection(Connection(conn_id="first", conn_type="http"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(3)\n"
            "c.execute('ROLLBACK')",
            str(home / "hookline.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        store.set_connection(Connection(conn_id="second", conn_type="http", password="s3cr3t-pw"))
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "stayed locked by another writer for 0.5 s" in message
    assert "nothing was written" in message
    assert "s3cr3t-pw" not in message
    assert 0.4 < elapsed < 2.5
    holder.communicate(timeout=30)
    with sqlite3.connect(home / "hookline.db") as raw:
        assert raw.execute("select count(*) from connection").fetchone()[0] == 1
    store.set_connection(Connection(conn_id="second", conn_type="http"))
    assert store.get_connection("second") is not None
    store.close()


def test_a_writer_waits_for_a_short_lock_instead_of_failing(tmp_path: Path) -> None:
    """A lock held for 0.3 s, busy timeout 1 ms: the write retries and succeeds once it is free."""
    home = tmp_path / "home"
    store = MetastoreBackend(fernet_keys=generate_key(), home=home, connect_args={"timeout": 0.001})
    store.set_connection(Connection(conn_id="first", conn_type="http"))
    locker = sqlite3.connect(home / "hookline.db", isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: locker.execute("ROLLBACK"))
    release.start()
    store.set_connection(Connection(conn_id="second", conn_type="http"))
    release.join()
    locker.close()
    assert store.get_connection("second") is not None
    store.close()
