"""The audit listener and its background writer: events in, signed records out, off the hot path.

:class:`AuditWriter` subscribes to an :class:`~hookline.events.EventBus`. Lookups that reached a
backend, writes, credential refreshes and rotation steps become one record each; cache hits are
counted per conn_id and written as one ``cache_hits`` record per conn_id per interval. The listener
only appends to a queue (or bumps a counter); a daemon thread signs and writes batches, so a cached
lookup pays a counter increment, not a disk write. Pending records are flushed on :meth:`close`, at
interpreter exit and on SIGTERM.

Fail-open by default: when no sink can write, the error is logged and records are kept in memory
(bounded). With ``fail_closed=True`` the listener raises
:class:`~hookline.exceptions.AuditUnavailable` instead, which fails the lookup that emitted the event
(Vault's behaviour: an access that cannot be audited is refused).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import logging
import os
import pwd
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable, Generator, Sequence
from types import FrameType
from typing import Any

from hookline import masking
from hookline.audit.log import AuditRecord, sign
from hookline.audit.sinks import AuditSink
from hookline.events import (
    AuditWriteFailed,
    CacheHit,
    ConnectionWritten,
    CredentialsRefreshed,
    Event,
    EventBus,
    KeysRotated,
    LookupDone,
    RotationStep,
    default_bus,
)
from hookline.exceptions import AuditUnavailable

__all__ = ["AuditWriter"]

log = logging.getLogger(__name__)

_MAX_PENDING = 100_000
_REFUSED = (
    "the audit log cannot be written ([audit] fail_closed = true): refusing access until a sink "
    "works again"
)
_writers: weakref.WeakSet[AuditWriter] = weakref.WeakSet()


def _whoami() -> str:
    """The OS user this process runs as (from the user database, not from $USER, which anyone sets)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


# SIGTERM is held back while the main thread commits a batch: the handler only notes it, and the
# end of the batch acts on it. (Python runs signal handlers in the main thread only, so these two
# globals are read and written by that thread alone.)
_committing = 0
_deferred_signal: tuple[int, FrameType | None] | None = None


@contextlib.contextmanager
def _sigterm_deferred() -> Generator[None, None, None]:
    """Hold SIGTERM back while a batch is written and committed, so the handler never stops a
    batch between its write and its commit (the exit flush would write it again)."""
    global _committing, _deferred_signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _committing += 1
    try:
        yield
    finally:
        _committing -= 1
        if not _committing and _deferred_signal is not None:
            signum, frame = _deferred_signal
            _deferred_signal = None
            _after_sigterm(signum, frame)


# A cache-hit counter's key: a conn_id, or (kind, key) for other kinds of lookups (variables).
_HitKey = str | tuple[str, str]


def _hit_order(item: tuple[_HitKey, int]) -> tuple[str, str]:
    key = item[0]
    return ("", key) if isinstance(key, str) else key


class AuditWriter:
    """Turns events into signed audit records and writes them to every sink in the background.

    Args:
        sinks: Where records go; a batch counts as written when at least one sink took it.
        key: The audit HMAC key.
        start_seq: The sequence number of the newest record already written (0 for a new log).
        start_mac: Its mac (the genesis mac for a new log).
        fail_closed: Refuse secret reads (raise AuditUnavailable) while no sink can write.
        flush_interval_s: How often the background thread writes pending records.
        aggregate_interval_s: How often cache hits are written, one record per conn_id.
        bus: The bus to listen to (default: the process-wide one).
    """

    def __init__(
        self,
        sinks: Sequence[AuditSink],
        *,
        key: bytes,
        start_seq: int = 0,
        start_mac: str = "",
        fail_closed: bool = False,
        flush_interval_s: float = 0.2,
        aggregate_interval_s: float = 60.0,
        bus: EventBus | None = None,
    ) -> None:
        from hookline.audit.log import GENESIS_MAC

        self.sinks = list(sinks)
        self._key = key
        self._seq = start_seq
        self._mac = start_mac or GENESIS_MAC
        self.fail_closed = fail_closed
        self.flush_interval_s = flush_interval_s
        self.aggregate_interval_s = aggregate_interval_s
        self._pending: collections.deque[AuditRecord] = collections.deque()
        # Cache hits: one dict per thread, written only by that thread (no lock on the hot path);
        # the writer reads copies and remembers what it has written from each (``_flushed``).
        self._local = threading.local()
        self._cells: list[tuple[dict[_HitKey, int], dict[_HitKey, int]]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self.failing = False
        self.write_failures = 0
        self._host = socket.gethostname()
        self._user = _whoami()
        self._next_aggregate = time.monotonic() + aggregate_interval_s
        self._bus = bus if bus is not None else default_bus
        self._unsubscribe: Callable[[], None] | None = self._bus.subscribe(self.listen)
        self._thread = threading.Thread(target=self._run, name="hookline-audit", daemon=True)
        self._thread.start()
        _writers.add(self)

    # -- the listener: cheap, called on the emitting thread ---------------------------------------

    def listen(self, event: Event) -> None:
        """Record ``event`` (called by the bus)."""
        if event.__class__ is CacheHit:  # the hot path: count it in this thread's own cell
            if self.failing and self.fail_closed:
                raise AuditUnavailable(_REFUSED)
            hit: CacheHit = event
            if not hit.negative:
                try:
                    cell: dict[_HitKey, int] = self._local.cell
                except AttributeError:
                    cell = self._new_cell()
                key: _HitKey = hit.conn_id if hit.kind == "connection" else (hit.kind, hit.conn_id)
                cell[key] = cell.get(key, 0) + 1
            return
        if isinstance(event, LookupDone):
            self.record(
                "lookup" if event.kind == "connection" else f"{event.kind}_lookup",
                sync=event.source is not None,
                conn_id=event.conn_id,
                backend=event.source or "",
                outcome=event.outcome,
                fingerprint=event.fingerprint,
                detail=" ".join(f"{name}:{outcome}" for name, outcome in event.backends),
                ts=event.at,
            )
        elif isinstance(event, ConnectionWritten):
            self.record(
                "write" if event.kind == "connection" else f"{event.kind}_write",
                conn_id=event.conn_id,
                backend=event.backend,
                outcome=event.action,
                ts=event.at,
            )
        elif isinstance(event, KeysRotated):
            self.record(
                "key_rotation",
                backend=event.backend,
                outcome="ok",
                count=event.rows,
                ts=event.at,
            )
        elif isinstance(event, CredentialsRefreshed):
            self.record(
                "refresh",
                conn_id=event.conn_id,
                backend=event.hook,
                outcome="changed" if event.changed else "unchanged",
                ts=event.at,
            )
        elif isinstance(event, RotationStep):
            self.record(
                "rotation",
                conn_id=event.conn_id,
                backend=event.strategy,
                outcome=event.outcome,
                detail=event.step,
                ts=event.at,
            )

    def _new_cell(self) -> dict[_HitKey, int]:
        cell: dict[_HitKey, int] = {}
        self._local.cell = cell
        with self._lock:
            self._cells.append((cell, {}))
        return cell

    def _collect_hits(
        self,
    ) -> tuple[collections.Counter[_HitKey], list[tuple[dict[_HitKey, int], dict[_HitKey, int]]]]:
        """Cache hits counted since the last successful write, and the snapshots to mark written."""
        hits: collections.Counter[_HitKey] = collections.Counter()
        snapshots: list[tuple[dict[_HitKey, int], dict[_HitKey, int]]] = []
        with self._lock:
            cells = list(self._cells)
        for cell, flushed in cells:
            snapshot = cell.copy()  # atomic: the owning thread may be counting meanwhile
            for conn_id, count in snapshot.items():
                added = count - flushed.get(conn_id, 0)
                if added:
                    hits[conn_id] += added
            snapshots.append((flushed, snapshot))
        return hits, snapshots

    def record(
        self,
        kind: str,
        *,
        conn_id: str | None = None,
        backend: str = "",
        outcome: str = "",
        fingerprint: str = "",
        count: int = 1,
        detail: str = "",
        actor: str = "",
        ts: float | None = None,
        sync: bool = False,
    ) -> None:
        """Queue one record (its sequence number and mac are assigned when it is written).

        Args:
            sync: In fail-closed mode, write it now and raise if no sink takes it (a secret served
                from a backend, a reveal): the caller must not hand out what was not recorded.
                Ignored in fail-open mode (the background writer writes it).

        Raises:
            AuditUnavailable: ``sync`` in fail-closed mode, and no sink took the record. (Records
                of things already done, such as writes, are only queued: refusing them would
                report a stored connection as failed.)
        """
        record = AuditRecord(
            seq=0,
            ts=time.time() if ts is None else ts,
            kind=kind,
            conn_id=conn_id,
            backend=backend,
            outcome=outcome,
            fingerprint=fingerprint,
            count=count,
            pid=os.getpid(),
            host=self._host,
            user=self._user,
            detail=masking.redact(detail),
            prev="",
            actor=masking.redact(actor),
        )
        with self._lock:
            if len(self._pending) >= _MAX_PENDING:
                self._pending.popleft()
                log.error("audit backlog full: the oldest pending record was dropped")
            self._pending.append(record)
        if sync and self.fail_closed:
            self.flush(aggregate=False)
            if self.failing:
                # not served: record the refusal rather than the access
                with self._lock, contextlib.suppress(ValueError):
                    index = self._pending.index(record)
                    self._pending[index] = dataclasses.replace(
                        record, outcome="refused", detail="audit unavailable"
                    )
                raise AuditUnavailable(_REFUSED)

    # -- the background writer --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.flush(aggregate=time.monotonic() >= self._next_aggregate)
            except Exception as exc:  # never let the thread die
                log.error("audit writer failed: %s", type(exc).__name__)

    def flush(self, *, aggregate: bool = True) -> int:
        """Write every pending record now (and the cache-hit counts when ``aggregate``).

        Returns:
            The number of records written.
        """
        with self._write_lock:
            with self._lock:
                batch = list(self._pending)
            hits: collections.Counter[_HitKey] = collections.Counter()
            snapshots: list[tuple[dict[_HitKey, int], dict[_HitKey, int]]] = []
            if aggregate:
                self._next_aggregate = time.monotonic() + self.aggregate_interval_s
                hits, snapshots = self._collect_hits()
            now = time.time()
            for hit_key, count in sorted(hits.items(), key=_hit_order):
                kind, conn_id = ("", hit_key) if isinstance(hit_key, str) else hit_key
                batch.append(
                    AuditRecord(
                        0,
                        now,
                        f"{kind}_cache_hits" if kind else "cache_hits",
                        conn_id,
                        "cache",
                        "hit",
                        "",
                        count,
                        os.getpid(),
                        self._host,
                        self._user,
                        "",
                        "",
                    )
                )
            if not batch:
                return 0
            seq, mac = self._seq, self._mac
            signed: list[AuditRecord] = []
            for record in batch:
                seq += 1
                item = sign(self._key, _with_chain(record, seq, mac))
                signed.append(item)
                mac = item.mac
            with _sigterm_deferred():
                written = self._write(batch, signed, hits, seq, mac)
                if written:
                    for flushed, snapshot in snapshots:
                        flushed.update(snapshot)
                return written

    def _write(
        self,
        batch: list[AuditRecord],
        signed: list[AuditRecord],
        hits: collections.Counter[_HitKey],
        seq: int,
        mac: str,
    ) -> int:
        """Hand ``signed`` to every sink; commit the chain position when one took it."""
        written = 0
        for sink in self.sinks:
            try:
                sink.write(signed)
                written += 1
            except Exception as exc:
                self.write_failures += 1
                if self._bus.active:  # metrics count it; the audit listener ignores it
                    with contextlib.suppress(Exception):
                        self._bus.emit(AuditWriteFailed(sink=sink.name, error=type(exc).__name__))
                log.error(
                    "audit sink %s failed: %s",
                    sink.name,
                    masking.redact(f"{type(exc).__name__}: {exc}"),
                )
        if written == 0:
            self.failing = True  # the hit counts stay unflushed, for the next try
            return 0
        self.failing = False
        self._seq, self._mac = seq, mac
        with self._lock:
            for _ in range(len(batch) - len(hits)):
                self._pending.popleft()
        return len(signed)

    def close(self) -> None:
        """Stop listening, write what is pending, stop the thread and close the sinks."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)
        try:
            self.flush()
        finally:
            for sink in self.sinks:
                with contextlib.suppress(Exception):
                    sink.close()
            _writers.discard(self)


def _with_chain(record: AuditRecord, seq: int, prev: str) -> AuditRecord:
    return dataclasses.replace(record, seq=seq, prev=prev)


def _flush_all() -> None:
    for writer in list(_writers):
        with contextlib.suppress(Exception):
            writer.close()


atexit.register(_flush_all)
_previous_sigterm: Any = None


def _after_sigterm(signum: int, frame: FrameType | None) -> None:
    """What SIGTERM did before :func:`install_sigterm_flush`; the default (terminate at once,
    skipping ``atexit``) becomes ``SystemExit(143)``, so the exit flush runs."""
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise SystemExit(128 + signum)


def install_sigterm_flush() -> None:
    """Make SIGTERM a clean exit, so the exit flush writes every pending record.

    The handler wakes every writer and then does what the previous handler did; when that was the
    default, it raises :class:`SystemExit` (status 143) instead, which unwinds the main thread
    (releasing any lock it holds) and runs the ``atexit`` flush. Flushing inside the handler itself
    could deadlock on a lock the interrupted code holds. While the main thread commits a batch the
    signal is held back until the batch is committed. Installed once, from the main thread only
    (signal handlers cannot be set elsewhere).
    """
    global _previous_sigterm
    if _previous_sigterm is not None or threading.current_thread() is not threading.main_thread():
        return
    _previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        global _deferred_signal
        for writer in list(_writers):
            writer._wake.set()
        if _committing:
            _deferred_signal = (signum, frame)
            return
        _after_sigterm(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
