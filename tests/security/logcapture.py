"""Every log line the process writes, as the configured handler would write it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Adds a handler beside the configured one (same formatter, same filters: redaction
    and bounds included) and lowers the root level for the block, so INFO and DEBUG lines of
    every logger (ours, uvicorn, temporalio, asyncpg) are seen too."""
    root = logging.getLogger()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    configured = root.handlers[0]
    handler.setFormatter(configured.formatter)
    for f in configured.filters:
        handler.addFilter(f)
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield out
    finally:
        root.setLevel(before)
        root.removeHandler(handler)
