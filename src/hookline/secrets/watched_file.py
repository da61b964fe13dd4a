"""A file parsed on first use and again only when it changes (mtime, size, inode or device): reads in
between cost one ``stat``.

The files backend reads its connections file and its variables file this way. A file with errors
raises its typed error on every read until it is fixed, and so does a missing or unreadable file: a
file that cannot be read is invalid, never "down" (the chain must not fall through to another backend
and answer with something else).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from hookline.exceptions import _FileLoadError

__all__ = ["WatchedFile"]

ParsedT = TypeVar("ParsedT")
ErrorT = TypeVar("ErrorT", bound=_FileLoadError)


@dataclass(frozen=True, slots=True)
class _Loaded(Generic[ParsedT]):
    stamp: tuple[int, int, int, int]
    parsed: ParsedT | None
    problems: list[tuple[int | None, str]] | None


class WatchedFile(Generic[ParsedT, ErrorT]):
    """``path`` parsed by ``parse`` (text -> value), cached until the file changes.

    Args:
        path: The file.
        parse: Parses the file's text; raises ``error_type`` listing what is wrong.
        error_type: The typed error raised for a missing, unreadable or invalid file (a fresh one on
            every read, so tracebacks do not pile up on a shared object).
        on_reload: Called (under the lock) after each successful parse, e.g. to drop what was derived
            from the previous contents.
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[str], ParsedT],
        error_type: type[ErrorT],
        on_reload: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self._parse = parse
        self._error_type = error_type
        self._on_reload = on_reload
        self._loaded: _Loaded[ParsedT] | None = None
        self._lock = threading.Lock()

    def read(self) -> ParsedT:
        """The parsed contents.

        Raises:
            ErrorT: the file is missing, unreadable or invalid.
        """
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise self._missing(exc) from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        loaded = self._loaded
        if loaded is None or loaded.stamp != stamp:
            with self._lock:
                loaded = self._loaded
                if loaded is None or loaded.stamp != stamp:
                    loaded = self._reload()
        if loaded.problems is not None:
            raise self._error_type(self.path, loaded.problems)
        assert loaded.parsed is not None
        return loaded.parsed

    def _missing(self, exc: OSError) -> ErrorT:
        if isinstance(exc, FileNotFoundError):
            return self._error_type(self.path, [(None, "The file does not exist.")])
        reason = exc.strerror or type(exc).__name__
        return self._error_type(self.path, [(None, f"The file cannot be read: {reason}")])

    def _reload(self) -> _Loaded[ParsedT]:
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                raw = handle.read()
        except OSError as exc:
            raise self._missing(exc) from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        loaded: _Loaded[ParsedT]
        try:
            loaded = _Loaded(stamp, self._parse(raw.decode("utf-8")), None)
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            loaded = _Loaded(stamp, None, [(line, "The file is not valid UTF-8.")])
        except _FileLoadError as exc:
            loaded = _Loaded(stamp, None, list(exc.errors))
        except Exception as exc:  # fail closed: a file that cannot be read is invalid, never "down"
            loaded = _Loaded(
                stamp, None, [(None, f"The file could not be read ({type(exc).__name__}).")]
            )
        else:
            if self._on_reload is not None:
                self._on_reload()
        self._loaded = loaded
        return loaded
