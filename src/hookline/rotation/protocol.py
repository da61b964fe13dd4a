"""The four-step rotation protocol (create, set, test, finish), run by hookline against any
``stageable`` secrets backend through the base contract (:class:`~hookline.secrets.base.SecretsBackend`).

1. **create**: a new password from :mod:`secrets` (the ``[rotation]`` password policy); the strategy
   builds the pending connection (the same, or the other user's login); ``put_pending(step="create")``.
2. **set**: the strategy makes the server accept the pending credentials; ``put_pending(step="set")``.
3. **test**: the strategy logs in with the pending credentials; ``put_pending(step="test")``.
4. **finish**: ``promote_pending``; the rotation is recorded (last rotation time), caches of this
   process drop the entry at once (other processes' caches follow the backend's change counter, or
   refresh on their next authentication failure), and when the login changed (alternating users)
   the SQL hooks' pools of this process switch to the new user at their next checkout.

**Resumable, idempotent.** The step reached is stored with the pending version, in the same write.
A run that finds a pending version resumes after its step with the same token: ``set`` is
idempotent (it sets the pending password again; a single user whose current password is already
refused checks that the pending one works), ``test`` and ``finish`` too. So a rotation killed at any
point (even SIGKILL) and run again finishes.

**Failures roll back.** When ``set`` or ``test`` fails, the strategy undoes ``set`` (single user: the
old password is set again, logged in with the new one), the pending version is discarded, the
current credentials are untouched, and :class:`~hookline.exceptions.RotationError` names the step.
When the undo itself fails the pending version is kept (for a single user it may hold the only
password the server accepts) and the error says to run the rotation again.

Each step emits a :class:`~hookline.events.RotationStep` event (``ok``, ``failed``, or ``skipped``
for steps a resumed run finds done); the audit log records them. No message holds a secret.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hookline.connection import Connection
from hookline.connection_secrets import register_connection_secrets
from hookline.events import EventBus, RotationStep, default_bus
from hookline.exceptions import ConnectionNotFound, HooklineError, RotationError
from hookline.masking import redact
from hookline.rotation.settings import RotationSettings
from hookline.rotation.strategies import Strategy, get_strategy
from hookline.secrets.base import PendingVersion, SecretsBackend

if TYPE_CHECKING:
    from hookline.resolve.chain import SecretsChain
    from hookline.secrets.metastore.staging import StagingMixin

__all__ = ["STEPS", "RotationResult", "Rotator"]

log = logging.getLogger(__name__)

STEPS = ("create", "set", "test", "finish")


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What a rotation did (or, for a dry run, would do).

    Attributes:
        conn_id: The connection.
        strategy: The strategy name.
        backend: The backend holding the connection.
        steps: The steps run (or planned), in order.
        resumed_from: The step a pending version had reached when this run started, or None.
        dry_run: Whether nothing was changed.
    """

    conn_id: str
    strategy: str
    backend: str
    steps: tuple[str, ...]
    resumed_from: str | None = None
    dry_run: bool = False


class Rotator:
    """Runs rotations over a secrets chain.

    Args:
        chain: The chain holding the connections (default: the default resolver's).
        settings: The ``[rotation]`` settings (default: from the configuration).
        ledger: Where rotation times are recorded (default: the chain's metastore, else the
            configured one).
        bus: Where :class:`~hookline.events.RotationStep` events go.
    """

    def __init__(
        self,
        chain: SecretsChain | None = None,
        *,
        settings: RotationSettings | None = None,
        ledger: StagingMixin | None = None,
        bus: EventBus | None = None,
    ) -> None:
        if chain is None:
            from hookline.resolve.default import default_chain

            chain = default_chain()
        self.chain = chain
        self.settings = settings if settings is not None else RotationSettings.load()
        self._ledger = ledger
        self.bus = bus if bus is not None else default_bus

    # -- where things are ---------------------------------------------------------------------------

    def locate(self, conn_id: str) -> tuple[SecretsBackend, Connection]:
        """The backend answering ``conn_id`` (it must be stageable) and the current version.

        Raises:
            ConnectionNotFound: no backend holds it.
            RotationError: the answering backend cannot stage a pending version.
        """
        for backend in self.chain.backends:
            if not backend.handles(conn_id):
                continue
            conn = backend.get_connection(conn_id)
            if conn is None:
                continue
            if not backend.stageable:
                raise RotationError(
                    f"connection {conn_id!r} is served by the {backend.name} backend, which cannot "
                    "stage a pending version; store it in a stageable backend (the metastore, "
                    "Vault, AWS, GCP) to rotate it",
                    step="create",
                )
            register_connection_secrets(conn)
            return backend, conn
        raise ConnectionNotFound(conn_id)

    def ledger(self) -> StagingMixin:
        """The metastore recording when each connection was last rotated."""
        if self._ledger is None:
            from hookline.secrets.metastore import MetastoreBackend

            for backend in self.chain.backends:
                if isinstance(backend, MetastoreBackend):
                    self._ledger = backend
                    break
            else:
                from hookline.config import load_settings

                settings = load_settings()
                self._ledger = MetastoreBackend(settings.metastore_url, home=settings.home)
        return self._ledger

    def strategy(self, conn: Connection, name: str | None = None) -> Strategy:
        """The strategy rotating ``conn``, with its admin connection when one is configured."""
        chosen = name or self.settings.strategy_for(conn)
        cls = get_strategy(chosen)
        admin_id = self.settings.admin_for(conn)
        admin = None
        if admin_id is not None:
            _, admin = self.locate_any(admin_id)
        return cls(admin=admin, alternate_suffix=self.settings.alternate_suffix)

    def locate_any(self, conn_id: str) -> tuple[str, Connection]:
        """Any connection of the chain (the admin connection need not be stageable)."""
        conn = self.chain.get_connection(conn_id, fresh=True)
        register_connection_secrets(conn)
        return conn_id, conn

    # -- the protocol -------------------------------------------------------------------------------

    def rotate(
        self, conn_id: str, *, strategy: str | None = None, dry_run: bool = False
    ) -> RotationResult:
        """Rotate ``conn_id`` (or resume its pending rotation); see the module docstring.

        Raises:
            RotationError: a step failed (``.step`` names it); the current credentials still work.
            ConnectionNotFound: no backend holds ``conn_id``.
            ConfigurationError: an unknown strategy, or a missing admin connection.
        """
        backend, current = self.locate(conn_id)
        chosen = self.strategy(current, strategy)
        pending = backend.get_pending(conn_id)
        resumed = None if pending is None else pending.step
        if resumed is not None and resumed not in STEPS:
            raise RotationError(
                f"connection {conn_id!r} has a pending version at an unknown step {resumed!r}",
                step="create",
            )
        done = 0 if resumed is None else STEPS.index(resumed) + 1
        planned = STEPS[done:]
        result = RotationResult(conn_id, chosen.name, backend.name, planned, resumed, dry_run)
        if dry_run:
            return result
        if pending is None:
            pending = self._create(backend, chosen, current)
        else:
            register_connection_secrets(pending.connection)
            for step in STEPS[:done]:
                self._emit(conn_id, step, "skipped", chosen.name)
        if pending.step == "create":
            pending = self._guarded(
                backend, chosen, current, pending, "set",
                lambda p: chosen.set(current, p.connection),
            )  # fmt: skip
        if pending.step == "set":
            pending = self._guarded(
                backend, chosen, current, pending, "test", lambda p: chosen.test(p.connection)
            )
        self._finish(backend, chosen, pending)
        return result

    def _create(
        self, backend: SecretsBackend, chosen: Strategy, current: Connection
    ) -> PendingVersion:
        conn_id = str(current.conn_id)
        token = secrets.token_hex(16)
        try:
            new = chosen.create(current, self.settings.policy.generate())
            register_connection_secrets(new)
            backend.put_pending(new, token=token, step="create")
        except RotationError:
            self._emit(conn_id, "create", "failed", chosen.name)
            raise
        except (HooklineError, OSError) as exc:
            self._emit(conn_id, "create", "failed", chosen.name)
            raise RotationError(_failed(conn_id, "create", exc), step="create") from None
        self._emit(conn_id, "create", "ok", chosen.name)
        return PendingVersion(new, token, "create", time.time())

    def _guarded(
        self,
        backend: SecretsBackend,
        chosen: Strategy,
        current: Connection,
        pending: PendingVersion,
        step: str,
        action: Callable[[PendingVersion], None],
    ) -> PendingVersion:
        conn_id = str(current.conn_id)
        try:
            action(pending)
            backend.put_pending(pending.connection, token=pending.token, step=step)
        except Exception as exc:
            self._emit(conn_id, step, "failed", chosen.name)
            message = _failed(conn_id, step, exc)
            try:
                chosen.revert(current, pending.connection)
            except Exception as undo:
                raise RotationError(
                    f"{message}; undoing it failed too ({type(undo).__name__}), so the pending "
                    "version is kept: run the rotation again to finish it",
                    step=step,
                ) from None
            backend.discard_pending(conn_id, pending.token)
            raise RotationError(
                f"{message}; rolled back: the current credentials are unchanged", step=step
            ) from None
        self._emit(conn_id, step, "ok", chosen.name)
        return dataclasses.replace(pending, step=step)

    def _finish(self, backend: SecretsBackend, chosen: Strategy, pending: PendingVersion) -> None:
        conn_id = str(pending.connection.conn_id)
        try:
            backend.promote_pending(conn_id, pending.token)
            ledger = self.ledger()
            if ledger is not backend:  # type: ignore[comparison-overlap]
                ledger.record_rotation(conn_id, pending.token, time.time())
        except HooklineError as exc:
            self._emit(conn_id, "finish", "failed", chosen.name)
            raise RotationError(_failed(conn_id, "finish", exc), step="finish") from None
        self.chain.notify_changed(conn_id)
        if chosen.switches_login:
            _renew_pools(conn_id)
        self._emit(conn_id, "finish", "ok", chosen.name)

    def _emit(
        self, conn_id: str, step: str, outcome: Literal["ok", "failed", "skipped"], strategy: str
    ) -> None:
        bus = self.bus
        if bus.active:
            bus.emit(RotationStep(conn_id=conn_id, step=step, outcome=outcome, strategy=strategy))

    # -- schedules ------------------------------------------------------------------------------------

    def due(self, now: float | None = None) -> list[tuple[str, float, float | None]]:
        """Connections whose rotation interval has passed: ``(conn_id, interval_s, last)``, where
        ``last`` is the last rotation time (None: never rotated, so due now).

        Raises:
            ListingIncomplete: a backend could not list its connections (nothing is guessed).
            InvalidConnection, ConfigurationError: a malformed interval.
        """
        now = time.time() if now is None else now
        seen: set[str] = set()
        found: list[tuple[str, float, float | None]] = []
        candidates = [conn for _, conn in self.chain.list_connections()]
        listed = {str(conn.conn_id) for conn in candidates}
        for conn_id in self.settings.connections:
            if conn_id not in listed:
                candidates.append(self.chain.get_connection(conn_id, fresh=True))
        for conn in candidates:
            conn_id = str(conn.conn_id)
            if conn_id in seen:
                continue  # the first backend wins, as on lookup
            seen.add(conn_id)
            interval = self.settings.interval_for(conn)
            if interval is None:
                continue
            last = self.ledger().last_rotated_at(conn_id)
            if last is None or now - last >= interval:
                found.append((conn_id, interval, last))
        return found


def _failed(conn_id: str, step: str, exc: BaseException) -> str:
    detail = redact(str(exc).splitlines()[0] if str(exc) else "")
    kind = type(exc).__name__
    return f"rotation of {conn_id!r} failed at step {step!r}: {kind}" + (
        f": {detail}" if detail else ""
    )


def _renew_pools(conn_id: str) -> None:
    """Switch this process's pools of ``conn_id`` to the new credentials at their next checkout."""
    engines = sys.modules.get("hookline.hooks.sql.engines")
    if engines is None:
        return  # no SQL hook ever ran here: no pool to switch
    for shared in engines.shared_engines(conn_id):
        shared.renew()
