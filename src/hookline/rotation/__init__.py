"""Zero-downtime credential rotation: ``hookline.rotation`` and ``hookline rotate``.

The four-step protocol (create, set, test, finish) of :mod:`hookline.rotation.protocol` runs against
any ``stageable`` secrets backend; strategies (:mod:`hookline.rotation.strategies`) say what
happens on the server: ``single_user`` (the default) or ``alternating_users`` for PostgreSQL and
MySQL/MariaDB, more through the ``hookline.rotation_strategies`` entry point group. Settings:
:mod:`hookline.rotation.settings`. During a single-user rotation the SQL hooks log in with the
pending version when the current one is refused (:mod:`hookline.rotation.fallback`).

Example::

    from hookline.rotation import rotate

    rotate("warehouse")  # or resume an interrupted rotation of it
"""

from __future__ import annotations

from hookline.rotation.protocol import STEPS, RotationResult, Rotator
from hookline.rotation.settings import PasswordPolicy, RotationSettings
from hookline.rotation.strategies import (
    STRATEGY_GROUP,
    AlternatingUsers,
    SingleUser,
    Strategy,
    get_strategy,
    register_strategy,
    strategy_names,
)

__all__ = [
    "STEPS",
    "STRATEGY_GROUP",
    "AlternatingUsers",
    "PasswordPolicy",
    "RotationResult",
    "RotationSettings",
    "Rotator",
    "SingleUser",
    "Strategy",
    "get_strategy",
    "register_strategy",
    "rotate",
    "strategy_names",
]


def rotate(conn_id: str, *, strategy: str | None = None, dry_run: bool = False) -> RotationResult:
    """Rotate ``conn_id`` through the default chain (see :class:`Rotator`).

    Raises:
        RotationError: a step failed; the current credentials still work.
    """
    return Rotator().rotate(conn_id, strategy=strategy, dry_run=dry_run)
