"""The web console: a static single-page app the API serves at /console/ (no build step)."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
