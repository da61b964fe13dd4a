"""The web UI (placeholder)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter()


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS."""
