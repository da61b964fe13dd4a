"""Which conn_ids may become a store path, name or key: path traversal is refused, not normalised.

Remote stores address a connection by a path or name built from its id: Vault/OpenBao put
``{mount}/{connections_path}/{conn_id}`` into an HTTP URL, AWS Secrets Manager and SSM use
``{prefix}/{conn_id}`` as a name, GCP Secret Manager an id. HTTP clients and servers normalise dot
segments (RFC 3986 section 5.2.4), so ``warehouse/../../admin/rootdb`` would read a secret outside the
configured prefix, even in another KV mount. Every backend that builds a path or key from a conn_id
calls :func:`check_conn_id_path` first; it raises :class:`~hookline.exceptions.InvalidConnection`
(recorded as ``invalid`` in the lookup trace, which stops the chain) for an id that:

* is not a valid conn_id (:func:`~hookline.connection.validate_conn_id`: this refuses ``%`` and so
  every percent-encoded form such as ``%2e%2e`` or ``%2f``, NUL and every other control or format
  character, whitespace, ``?`` and ``;``);
* holds a backslash (a path separator on Windows and in some proxies);
* has an empty, ``.`` or ``..`` segment between ``/`` (``a//b``, ``/a``, ``a/``, ``./a``, ``a/..``);
* has one of the above once Unicode-normalised (NFKC), which some servers apply.

Ids such as ``my.db``, ``a..b``, ``team/warehouse`` or ``...`` stay valid: they name one key and
nothing else.
"""

from __future__ import annotations

import unicodedata

from hookline.connection import validate_conn_id
from hookline.exceptions import InvalidConnection

__all__ = ["check_conn_id_path", "conn_id_path_problem"]

_DOT_SEGMENTS = frozenset({"", ".", ".."})


def conn_id_path_problem(conn_id: str) -> str | None:
    """What makes ``conn_id`` unsafe as a path or key (a short phrase), or None when it is safe.

    Only the path rules are checked here; :func:`check_conn_id_path` also validates the id itself.
    """
    if "\\" in conn_id:
        return "a backslash"
    if "/" in conn_id or "." in conn_id:
        for segment in conn_id.split("/"):
            if segment in _DOT_SEGMENTS:
                return f"a {segment!r} path segment" if segment else "an empty path segment"
    if not conn_id.isascii():
        normalized = unicodedata.normalize("NFKC", conn_id)
        if normalized != conn_id:
            problem = conn_id_path_problem(normalized)
            if problem is not None:
                return f"{problem} once Unicode-normalised"
    return None


def check_conn_id_path(conn_id: str, *, backend: str) -> str:
    """Return ``conn_id`` when it is safe to build a path or key from, else raise.

    Args:
        conn_id: The id asked for.
        backend: The backend's name, for the message.

    Raises:
        InvalidConnection: ``conn_id`` is not a valid id, or it would change the path it is put in
            (see the module docs); the message names the problem and never a secret.
    """
    validate_conn_id(conn_id)
    problem = conn_id_path_problem(conn_id)
    if problem is not None:
        raise InvalidConnection(
            f"conn_id {conn_id!r} cannot be looked up in the {backend} backend: it has {problem}, "
            "which could address a secret outside the configured path; use '/' only between "
            "non-empty names other than '.' and '..', and no backslash",
            conn_id=conn_id,
        )
    return conn_id
