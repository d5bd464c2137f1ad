"""The console in a real browser: the app served over HTTP by uvicorn inside the session's
event loop (the worker runs on the same loop), Debian's Chromium driven by Playwright's async
API. Screenshots of every main page go to tests/screenshots/ (git-ignored); with
CLAIMFLOW_CONSOLE_DEBUG=1 each browser's last page is saved there too (last-N.png), pass or fail."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.embedded import free_port
from claimflow.runtime import _QuietServer
from claimflow.settings import Settings
from tests.console.support import (
    CHROMIUM, CHROMIUM_ARGS, DESKTOP, PASSWORD, ZH, Open, Person,
)
from tests.support.claims import bearer


@pytest.fixture(scope="session")
async def live_server(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool, worker: None
) -> AsyncIterator[str]:
    """The whole API (and the console) over real HTTP on a free port."""
    app = create_app(settings, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    port = free_port()
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def admin(live_server: str, settings: Settings, clean_db: None) -> AsyncIterator[httpx.AsyncClient]:
    """The test admin over HTTP, for what is set up before the people sign in."""
    async with httpx.AsyncClient(base_url=live_server, headers=bearer(settings), timeout=30) as http:
        yield http


@pytest.fixture
async def person(browser, live_server: str) -> AsyncIterator[Open]:
    """Open a browser context (desktop or phone) on the console; signed in if a user is given."""
    opened: list[Person] = []

    async def open_(user_id: str | None = None, viewport: dict = DESKTOP, phone: bool = False,
                    path: str = "") -> Person:
        context = await browser.new_context(
            viewport=viewport, is_mobile=phone, has_touch=phone, locale="zh-CN",
            device_scale_factor=1,
        )
        context.set_default_timeout(15_000)
        page = await context.new_page()
        who = Person(page, context)

        def on_console(msg) -> None:
            if msg.type == "error" or "missing translation" in msg.text:
                who.problems.append(f"console {msg.type}: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: who.problems.append(f"page error: {exc}"))
        opened.append(who)
        if user_id is None:
            if path:
                await page.goto(f"{live_server}/console/{path}")
            return who
        await page.goto(f"{live_server}/console/#/signin")
        await page.get_by_label(ZH["signin.username"]).fill(user_id)
        await page.get_by_label(ZH["signin.password"]).fill(PASSWORD)
        await page.get_by_role("button", name=ZH["signin.submit"]).click()
        await page.locator("body[data-route='/inbox'], body[data-route='/dashboard']").wait_for()
        return who

    yield open_
    for n, who in enumerate(opened):
        if os.environ.get("CLAIMFLOW_CONSOLE_DEBUG"):
            await who.shot(f"last-{n}")
            print(n, who.page.url, who.problems)
        await who.context.close()
    problems = [p for who in opened for p in who.problems
                # the browser logs a failed request's status itself; the page shows it in words
                if "Failed to load resource" not in p]
    assert not problems, problems
