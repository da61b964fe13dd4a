"""``hookline serve``: a REST API and a web UI for connections, with roles (extra ``server``).

* :mod:`~hookline.server.app`: the FastAPI app, authentication, error handling;
* :mod:`~hookline.server.api`: the REST API under ``/api/v1``;
* :mod:`~hookline.server.ui`: the server-rendered web UI (Jinja2, no build step);
* :mod:`~hookline.server.tokens`: API tokens, stored hashed in the metastore database;
* :mod:`~hookline.server.security`: headers, body size limit, login rate limit, CSRF.
"""

from __future__ import annotations

__all__ = ["ServerConfig", "create_app"]

from hookline.server.app import ServerConfig, create_app
