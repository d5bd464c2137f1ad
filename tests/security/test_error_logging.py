"""One 500 costs milliseconds and one short log line: tracebacks are plain text, without local
variables (a rich traceback with locals was ~6.5 MB per error and blocked the event loop of
`claimflow up`, API and worker in one process, for ~11 s), and bounded in size."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from claimflow.settings import Settings
from tests.security.logcapture import captured_logs
from tests.support.claims import bearer

LOCAL_MARK = "LOCAL-VARIABLE-VALUE"


def _fail_with_big_locals(depth: int) -> None:
    big_local = {f"k{i}": LOCAL_MARK * 50 for i in range(2000)}  # ~2 MB if rendered
    if depth:
        _fail_with_big_locals(depth - 1)
    raise RuntimeError(f"deliberate failure with {len(big_local)} locals")


def test_a_logged_traceback_has_no_locals_is_bounded_and_fast():
    logger = logging.getLogger("tests.security.errors")
    with captured_logs() as logs:
        started = time.perf_counter()
        try:
            _fail_with_big_locals(depth=50)
        except RuntimeError:
            logger.exception("something failed")
        took = time.perf_counter() - started
    text = logs.getvalue()
    assert "RuntimeError: deliberate failure with 2000 locals" in text
    assert LOCAL_MARK not in text
    assert len(text) < 12_000, len(text)
    assert took < 0.5, took


def test_a_huge_value_or_message_is_cut():
    with captured_logs() as logs:
        logging.getLogger("tests.security.errors").warning("x" * 1_000_000)
    assert 1_000 < len(logs.getvalue()) < 5_000
    assert "characters cut" in logs.getvalue()


@pytest.fixture
async def failing_app(
    settings: Settings, pool: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with routes that fail (`pool`: the users' table exists for the admin's token)."""
    app = create_app(settings, claims_client=object())  # type: ignore[arg-type]

    @app.get("/claims-test-boom/{claim_id}")
    async def boom(claim_id: str) -> None:
        token = "eyJhbGciOiJIUzI1NiJ9.a-token-in-a-local.signature"  # noqa: F841
        _fail_with_big_locals(depth=20)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://claimflow.test",
        headers=bearer(settings),
    ) as http:
        yield app, http


async def test_an_unhandled_error_is_a_500_and_one_short_log_line_with_the_ids(
    failing_app: tuple[FastAPI, httpx.AsyncClient],
):
    _, http = failing_app
    with captured_logs() as logs:
        started = time.perf_counter()
        r = await http.get("/claims-test-boom/CLM-42", headers={"X-Request-ID": "req-1"})
        took = time.perf_counter() - started
        # What uvicorn then logs for the same exception is not written a second time.
        exc = sys.exc_info()
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": "req-1"}
    assert took < 0.5, took
    text = logs.getvalue()
    lines = [line for line in text.splitlines() if "unhandled_error" in line]
    assert len(lines) == 1, text[:3000]
    line = lines[0]
    for part in ("request_id=req-1", "claim_id=CLM-42", "error_type=RuntimeError", "GET",
                 "route=/claims-test-boom/{claim_id}"):
        assert part in line, line
    assert LOCAL_MARK not in text and "a-token-in-a-local" not in text
    assert len(text) < 12_000, len(text)
    assert exc == (None, None, None)


async def test_the_servers_second_report_of_a_logged_error_is_dropped(
    failing_app: tuple[FastAPI, httpx.AsyncClient],
):
    app, http = failing_app
    seen: list[BaseException] = []

    @app.get("/claims-test-catch")
    async def catch() -> None:
        try:
            _fail_with_big_locals(depth=0)
        except RuntimeError as exc:
            seen.append(exc)
            raise

    with captured_logs() as logs:
        r = await http.get("/claims-test-catch")
        assert r.status_code == 500
        # uvicorn's own report, as it writes it after the app re-raised
        logging.getLogger("uvicorn.error").error(
            "Exception in ASGI application\n", exc_info=(RuntimeError, seen[0], None)
        )
    assert "Exception in ASGI application" not in logs.getvalue()
    assert logs.getvalue().count("unhandled_error") == 1


def test_a_slow_reader_of_the_log_does_not_stall_the_caller():
    """Lines are rendered where they are logged and written by a thread of their own."""
    import claimflow.logging as cl

    assert cl._listener is not None, "logging writes through its own thread"
    writer = cl._listener.handlers[0]
    assert isinstance(writer, logging.StreamHandler)

    class Slow(io.StringIO):
        def write(self, s: str) -> int:
            time.sleep(0.05)
            return super().write(s)

    slow = Slow()
    before = writer.setStream(slow)
    try:
        started = time.perf_counter()
        for i in range(20):  # 1 s of writing
            logging.getLogger("tests.security.slow").warning("slow-reader-line %d", i)
        assert time.perf_counter() - started < 0.2
        deadline = time.monotonic() + 5
        while slow.getvalue().count("slow-reader-line ") < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.getvalue().count("slow-reader-line ") == 20  # nothing lost, only later
    finally:
        writer.setStream(before)
