"""Secrets backends and the chain that asks them in order.

Backend modules with optional SDKs (vault, aws, gcp) are not imported here; they are found by name
through the ``hookline.secrets_backends`` entry-point group when configured.
"""

from __future__ import annotations

from hookline.secrets.base import SecretsBackend
from hookline.secrets.env import EnvBackend

__all__ = ["EnvBackend", "SecretsBackend"]
