"""Where the metastore keeps its files, and the permission rules for them (as ssh applies to ``~/.ssh``).

* ``HOOKLINE_HOME`` (default ``~/.hookline``) is created mode 0700; an existing home (or the directory
  of an explicit SQLite file) that is group- or world-writable is **refused**: whoever can write there
  can swap the database (and so the host every connection points at) or the key file, so hookline
  will not read from it. The fix is one ``chmod go-w``, and the error says so.
* ``hookline.db`` is created mode 0600 before SQLite opens it (SQLite gives its ``-wal`` and ``-shm``
  files the same mode).
* A key file must belong to the current user (or root) and not be writable by group or others; one
  readable by them is used with a warning.

Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Final

from hookline.config import DEFAULT_HOME
from hookline.exceptions import ConfigurationError

__all__ = [
    "DB_FILE_NAME",
    "check_private_dir",
    "check_secret_file",
    "create_private_file",
    "hookline_home",
    "make_home",
]

log = logging.getLogger(__name__)

DB_FILE_NAME: Final = "hookline.db"
_OTHERS_WRITE: Final = stat.S_IWGRP | stat.S_IWOTH


def hookline_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The hookline home directory: ``home`` if given, else ``$HOOKLINE_HOME``, else ``~/.hookline``.

    The directory is not created here.
    """
    if home is None or str(home) == "":
        home = os.environ.get("HOOKLINE_HOME") or DEFAULT_HOME
    return Path(home).expanduser()


def check_private_dir(path: Path, what: str) -> bool:
    """Refuse a directory that group or others can write; return whether it exists.

    Args:
        path: The directory (HOOKLINE_HOME, or the directory of an explicit SQLite file).
        what: How to name it in the error (``"HOOKLINE_HOME"``...).

    Raises:
        ConfigurationError: it is group- or world-writable, or it exists and is not a directory.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise ConfigurationError(
            f"cannot create or use {what} {path}: a parent of it is a regular file, not a directory"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot inspect {what} {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigurationError(f"{what} {path} is not a directory")
    if st.st_mode & _OTHERS_WRITE:
        who = (
            "group and others"
            if st.st_mode & _OTHERS_WRITE == _OTHERS_WRITE
            else ("its group" if st.st_mode & stat.S_IWGRP else "others")
        )
        raise ConfigurationError(
            f"{what} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o}): anyone who "
            "can write there can replace the metastore or its key file, so hookline refuses to use "
            f"it. Run `chmod go-w {path}` (hookline creates it with mode 0700)"
        )
    return True


def make_home(home: Path) -> None:
    """Create ``home`` (mode 0700) if needed, for a write.

    Raises:
        ConfigurationError: it cannot be created, is not a directory, is group/world-writable, or is
            not writable by this process.
    """
    if not check_private_dir(home, "HOOKLINE_HOME"):
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create HOOKLINE_HOME {home} for the metastore: "
                f"{exc.strerror or type(exc).__name__}"
            ) from exc
        check_private_dir(home, "HOOKLINE_HOME")
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"HOOKLINE_HOME {home} is not writable by this process: reading connections works, "
            "storing them needs write access to the directory"
        )


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (before SQLite creates it 0644).

    Raises:
        ConfigurationError: it cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the SQLite metastore {path}: {exc.strerror or type(exc).__name__}. "
            f"Check that the directory of the database ({path.parent}) exists and is writable"
        ) from exc
    try:
        os.fchmod(fd, 0o600)  # the umask may have removed bits, never added: make it exact
    finally:
        os.close(fd)


def check_secret_file(path: Path, st: os.stat_result, what: str) -> None:
    """Refuse a secret file owned by someone else or writable by group/others; warn if readable.

    Raises:
        ConfigurationError: owned by another user (not root), or group/world-writable.
    """
    owner_ok = st.st_uid in {os.geteuid(), 0}
    if not owner_ok:
        raise ConfigurationError(
            f"{what} {path} belongs to user id {st.st_uid}, not to this user ({os.geteuid()}): "
            "another user could have replaced it, so hookline refuses it. Copy it to a file of "
            "your own with mode 0600"
        )
    if st.st_mode & _OTHERS_WRITE:
        raise ConfigurationError(
            f"{what} {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}), "
            f"so hookline refuses it: run `chmod 600 {path}`"
        )
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s %s is readable by group or others (mode %04o); run `chmod 600 %s`",
            what,
            path,
            stat.S_IMODE(st.st_mode),
            path,
        )
