"""File modes and ownership of the metastore's files, and reads from a read-only home (issue 12.9).

The read-only home is real: the child process runs in its own mount namespace (``unshare``) where
the home is bind-mounted read-only, as a read-only volume is in a container; even root gets EROFS.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import Connection
from hookline.exceptions import ConfigurationError
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore import paths as metastore_paths
from hookline.secrets.metastore.keys import generate_key

CANARY = "p3rm-C4n4ry!"


def conn(conn_id: str = "wh") -> Connection:
    return Connection(conn_id=conn_id, conn_type="postgres", host="db-host", password=CANARY)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000 for the test: created modes must not depend on the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_home_is_created_0700_and_database_and_wal_0600(tmp_path: Path) -> None:
    """Even with umask 000: the home is 0700, hookline.db and its -wal/-shm are 0600, and so is the
    generated key file."""
    home = tmp_path / "home"
    store = MetastoreBackend(home=home)
    store.set_connection(conn())
    assert mode(home) == 0o700
    assert mode(home / "hookline.db") == 0o600
    assert mode(home / "fernet.key") == 0o600
    with sqlite3.connect(home / "hookline.db") as raw:  # keeps the -wal and -shm files open
        raw.execute("select count(*) from connection").fetchone()
        for suffix in ("-wal", "-shm"):
            assert mode(home / f"hookline.db{suffix}") == 0o600, suffix
    store.close()


@pytest.mark.parametrize("bits", [0o020, 0o002, 0o022])
def test_group_or_world_writable_home_is_refused_for_reads_and_writes(
    tmp_path: Path, bits: int
) -> None:
    """An existing home that group or others can write: ConfigurationError (as ssh refuses such a
    ~/.ssh) on the first read and on a write, saying `chmod go-w`; the key file there is not read."""
    home = tmp_path / "home"
    MetastoreBackend(fernet_keys=generate_key(), home=home).set_connection(conn())
    home.chmod(0o700 | bits)
    store = MetastoreBackend(home=home)
    for call in (lambda: store.get_connection("wh"), lambda: store.set_connection(conn("x"))):
        with pytest.raises(ConfigurationError, match="refuses to use it") as info:
            call()
        assert f"chmod go-w {home}" in str(info.value)
        assert CANARY not in str(info.value)
    home.chmod(0o700)
    assert MetastoreBackend(home=home, fernet_keys=generate_key()).schema_revision() is not None


def test_world_writable_directory_of_an_explicit_sqlite_file_is_refused(tmp_path: Path) -> None:
    """The same rule for the directory of a SQLite URL outside the home."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    store = MetastoreBackend(f"sqlite:///{shared / 'x.db'}", fernet_keys=generate_key())
    with pytest.raises(ConfigurationError, match="writable by group and others"):
        store.set_connection(conn())
    assert not (shared / "x.db").exists()


def _foreign_owned(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` belong to another user: chown as root, else pretend to be someone else."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    else:
        monkeypatch.setattr(metastore_paths.os, "geteuid", lambda: os.getuid() + 4242)


def test_key_file_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fernet.key another user owns could have been swapped: ConfigurationError, not a warning."""
    home = tmp_path / "home"
    MetastoreBackend(home=home).set_connection(conn())
    key_file = home / "fernet.key"
    _foreign_owned(key_file, monkeypatch)
    store = MetastoreBackend(home=home)
    with pytest.raises(ConfigurationError, match="belongs to user id") as info:
        store.set_connection(conn("b"))
    assert str(key_file) in str(info.value)
    assert key_file.read_text().strip() not in str(info.value)


def test_key_file_writable_by_others_is_refused_and_readable_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Writable by group/others: refused (chmod 600 advised); readable only: a warning."""
    home = tmp_path / "home"
    MetastoreBackend(home=home).set_connection(conn())
    key_file = home / "fernet.key"
    key_file.chmod(0o620)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        MetastoreBackend(home=home).set_connection(conn("b"))
    key_file.chmod(0o640)
    caplog.set_level(logging.WARNING)
    MetastoreBackend(home=home).set_connection(conn("b"))
    assert "readable by group or others" in caplog.text


READER = """
import json, os, sys
from hookline.secrets.metastore import MetastoreBackend
store = MetastoreBackend()
out = {"conn": store.get_connection("wh").host, "ids": [c.conn_id for c in store.list_connections()],
       "counter": store.change_counter()}
try:
    store.set_connection(store.get_connection("wh").replace(conn_id="new"))
except Exception as exc:
    out["write"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def _run_read_only(home: Path, argv: list[str], key: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with ``home`` bind-mounted read-only in a private mount namespace."""
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKLINE_", "AIRFLOW_"))}
    env.update(HOOKLINE_HOME=str(home), HOOKLINE_FERNET_KEY=key)
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, str(home), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_reads_work_on_a_read_only_home_and_writes_say_why_not(tmp_path: Path) -> None:
    """On a read-only home (a read-only mount), lookups, listing and the change counter work; a
    write is a ConfigurationError saying the home is not writable; `connections list` prints the
    row and exits 0."""
    home = tmp_path / "home"
    key = generate_key()
    store = MetastoreBackend(fernet_keys=key, home=home)
    store.set_connections([conn("wh"), conn("other")])
    store.close()
    assert not (home / "hookline.db-wal").exists()  # closed cleanly: no -wal, no -shm
    proc = _run_read_only(home, [sys.executable, "-c", textwrap.dedent(READER)], key)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip().splitlines()[-1]
    assert '"conn": "db-host"' in out
    assert '"ids": ["other", "wh"]' in out
    assert '"counter": 1' in out
    assert "ConfigurationError" in out
    assert "not writable" in out
    assert CANARY not in proc.stdout + proc.stderr
    cli = _run_read_only(
        home, [str(Path(sys.executable).parent / "hookline"), "connections", "list"], key
    )
    assert cli.returncode == 0, cli.stderr
    assert "wh" in cli.stdout
    assert "other" in cli.stdout
    assert "db-host" in cli.stdout
    assert CANARY not in cli.stdout + cli.stderr


def test_read_only_home_with_unwritten_wal_changes_is_a_clear_error(tmp_path: Path) -> None:
    """A read-only home whose -wal still holds changes (and no -shm) cannot be read safely: a
    ConfigurationError says to open it once with write access, instead of stale rows."""
    home = tmp_path / "home"
    key = generate_key()
    MetastoreBackend(fernet_keys=key, home=home).set_connection(conn())
    copy = tmp_path / "copy"
    copy.mkdir(mode=0o700)
    with sqlite3.connect(home / "hookline.db") as raw:  # holds the WAL open while it is copied
        raw.execute("PRAGMA wal_autocheckpoint=0")
        raw.execute("update connection set port = 1 where conn_id = 'wh'")
        raw.commit()
        for name in ("hookline.db", "hookline.db-wal"):
            shutil.copy2(home / name, copy / name)
    assert (copy / "hookline.db-wal").stat().st_size > 0
    proc = _run_read_only(copy, [sys.executable, "-c", textwrap.dedent(READER)], key)
    assert proc.returncode != 0
    assert "ConfigurationError" in proc.stderr
    assert "holds changes not yet written" in proc.stderr
