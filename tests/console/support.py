"""What the console's browser tests share: the browser, the words of the console, a person."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from console import STATIC

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
ZH: dict[str, str] = json.loads((STATIC / "i18n" / "zh.json").read_text(encoding="utf-8"))
EN: dict[str, str] = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "a password long enough"


async def fill(page, label: str, value: str) -> None:
    await page.get_by_label(label, exact=True).fill(value)


async def visit(page, hash_: str) -> None:
    """Go to a page of the console and wait until it has rendered."""
    await page.evaluate(
        """h => { delete document.body.dataset.route;
                  if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
                  else location.hash = h; }""",
        hash_,
    )
    await page.locator(f"body[data-route='{hash_[1:].split('?')[0]}']").wait_for()


async def click_and_render(page, button) -> None:
    """Click a button whose action renders a page again; wait for the new rendering."""
    await page.evaluate("() => { delete document.body.dataset.route;"
                        " document.getElementById('flash').className = 'flash'; }")
    await button.click()
    await page.locator("body[data-route]").wait_for()


async def add_user(admin: httpx.AsyncClient, user_id: str, name: str, role: str, city: str | None = None) -> None:
    r = await admin.put(
        f"/users/{user_id}", json={"name": name, "role": role, "city": city, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text


@dataclass
class Person:
    """One signed-in browser context; `problems` collects page errors and missing words."""

    page: object
    context: object
    problems: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


Open = Callable[..., Awaitable[Person]]
