"""The conn_id forms tried for path traversal against every backend that builds a key from an id.

Each form either escapes the configured prefix once an HTTP client or server normalises the path
(dot segments, RFC 3986 section 5.2.4), once something percent-decodes or Unicode-normalises it, or
addresses another key than the one written (a backslash, an empty segment, a NUL). Every backend must
refuse each one with InvalidConnection before any API call. ``SAFE_IDS`` hold dots and slashes but
name one key only: they stay valid.
"""

from __future__ import annotations

TRAVERSAL_FORMS: tuple[str, ...] = (
    "warehouse/../../admin/rootdb",  # the report's form: leaves connections_path and the mount path
    "warehouse/../admin",
    "warehouse/../../../../kv1/admin",  # Vault: out of the KV mount into another mount
    "../admin/rootdb",
    "../../admin/rootdb",
    "..",
    ".",
    "./admin",
    "warehouse/./../admin",
    "warehouse/..",
    "admin/.",
    "warehouse/../../admin/rootdb/",
    "warehouse//admin",
    "/admin/rootdb",
    "warehouse/",
    "....//admin",
    "..\\admin\\rootdb",
    "warehouse\\..\\..\\admin",
    "%2e%2e/admin/rootdb",
    "%2E%2E%2Fadmin%2Frootdb",
    "..%2fadmin",
    "..%5cadmin",
    ".%2e/admin",
    "%252e%252e/admin",
    "warehouse%00",
    "warehouse\x00/../admin",
    "warehouse\n",
    "warehouse\r\n../admin",
    "warehouse\t",
    " ../admin",
    "\u2025/admin",  # two dot leader: NFKC gives ".."
    "\uff0e\uff0e/admin/rootdb",  # fullwidth full stops
    "\u2024\u2024/admin",  # one dot leaders
    "warehouse\uff0f..\uff0fadmin",  # fullwidth solidus
    "..;/admin",
    "warehouse/\u202e..",  # right-to-left override
    "warehouse/\u200b../admin",  # zero-width space
    "warehouse?/../admin",
    "warehouse#/../../admin",
)

SAFE_IDS: tuple[str, ...] = ("my.db", "a..b", "team/warehouse", "...", "a.b/c.d", "x-y_z")
