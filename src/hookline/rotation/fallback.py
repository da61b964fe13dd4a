"""The pending credentials of a connection during a rotation, for connections that fail to log in.

Between a rotation's ``set`` and ``finish`` steps the server of a single-user rotation accepts only
the new password, while lookups still return the current version (it is promoted at ``finish``).
The SQL hooks open new database connections through
:class:`~hookline.hooks.sql.engines.CredentialSource`; when the server rejects the current
credentials, they ask :func:`pending_connection` and, if a rotation is in progress, log in with the
pending version instead. Sessions already open are not affected by a password change, so the
connection stays usable throughout the rotation.

Only asked after an authentication failure: a normal lookup never reads pending versions.
"""

from __future__ import annotations

import logging

from hookline.connection import Connection

__all__ = ["pending_connection"]

log = logging.getLogger(__name__)


def pending_connection(conn_id: str) -> Connection | None:
    """The pending version of ``conn_id`` held by a stageable backend of the default chain, or
    None (no rotation in progress, or the backends cannot say: the caller then reports the original
    authentication failure)."""
    from hookline.connection_secrets import register_connection_secrets
    from hookline.resolve.default import default_chain

    try:
        for backend in default_chain().backends:
            if not backend.stageable:
                continue
            pending = backend.get_pending(conn_id)
            if pending is not None:
                register_connection_secrets(pending.connection)
                return pending.connection
    except Exception:  # the original authentication failure is the error to report
        log.debug("cannot read the pending version of %r", conn_id, exc_info=True)
    return None
