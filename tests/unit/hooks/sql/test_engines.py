"""The checkout check behind ``pool_pre_ping``: when a pooled connection needs a ping round trip."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from hookline.hooks.sql.pooling import LAST_CHECKIN_KEY, PRE_PING_IDLE_S, needs_ping


class FakePyMySql:
    """Looks like a PyMySQL connection: the socket is ``_sock``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock


class FakePgConn:
    def __init__(self, fd: int) -> None:
        self.socket = fd


class FakePsycopg:
    """Looks like a psycopg connection: the socket's fd is ``pgconn.socket``."""

    def __init__(self, fd: int) -> None:
        self.pgconn = FakePgConn(fd)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def test_new_connection_is_never_pinged(pair: tuple[socket.socket, socket.socket]) -> None:
    """A connection opened for this checkout has no checkin time: no ping."""
    assert needs_ping(FakePyMySql(pair[0]), {}) is False


def test_quiet_socket_recently_used_needs_no_ping(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    now = time.monotonic()
    info = {LAST_CHECKIN_KEY: now - 1.0}
    assert needs_ping(FakePyMySql(pair[0]), info, now=now) is False
    assert needs_ping(FakePsycopg(pair[0].fileno()), info, now=now) is False


def test_input_waiting_or_eof_means_ping(pair: tuple[socket.socket, socket.socket]) -> None:
    """The server sent something (an error before closing) or closed the socket: ping."""
    now = time.monotonic()
    info = {LAST_CHECKIN_KEY: now}
    pair[1].sendall(b"E")
    assert needs_ping(FakePsycopg(pair[0].fileno()), info, now=now) is True
    pair[0].recv(1)
    assert needs_ping(FakePsycopg(pair[0].fileno()), info, now=now) is False
    pair[1].close()
    assert needs_ping(FakePyMySql(pair[0]), info, now=now) is True


def test_long_idle_means_ping(pair: tuple[socket.socket, socket.socket]) -> None:
    now = time.monotonic()
    info = {LAST_CHECKIN_KEY: now - PRE_PING_IDLE_S - 1.0}
    assert needs_ping(FakePyMySql(pair[0]), info, now=now) is True


def test_unknown_driver_or_closed_socket_means_ping() -> None:
    """Without a socket to look at, every reused connection is pinged (SQLAlchemy's pre-ping)."""
    now = time.monotonic()
    info = {LAST_CHECKIN_KEY: now}
    assert needs_ping(object(), info, now=now) is True
    closed = socket.socket()
    closed.close()
    assert needs_ping(FakePyMySql(closed), info, now=now) is True
