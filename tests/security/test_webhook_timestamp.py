"""The insurer's webhook refuses a timestamp that is not Unix seconds with a 4xx that says
so: 400 digits used to overflow the float comparison (500, and a multi-megabyte traceback)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from api.routes.insurer import sign
from claimflow.settings import Settings
from tests.support.server import in_process

SECRET = "insurer-secret-for-the-security-tests"
BODY = b'{"insurer_claim_reference": "EL-NOBODY", "response": {"decision": "denied"}}'


@pytest.fixture
async def webhook(
    settings: Settings, temporal_client: Client, pool, clean_db
) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(update={"insurer_webhook_secret": SECRET})
    app = create_app(configured, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    async with in_process(app, base_url="http://insurer.test", raise_app_exceptions=False) as http:
        yield http


async def _post(http: httpx.AsyncClient, ts: str, signature: str | None = None) -> httpx.Response:
    return await http.post(
        "/insurer/webhook",
        content=BODY,
        headers={
            "Content-Type": "application/json",
            "X-Claimflow-Timestamp": ts,
            "X-Claimflow-Signature": signature or sign(SECRET, ts, BODY),
        },
    )


@pytest.mark.parametrize("digits", [13, 400, 5000])
async def test_a_timestamp_too_long_is_422_naming_the_header(
    webhook: httpx.AsyncClient, digits: int
):
    started = time.perf_counter()
    r = await _post(webhook, "9" * digits)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["header", "x-claimflow-timestamp"]
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("ts", ["1e400", "-1", " 1", "1.5", "inf", "nan"])
async def test_a_timestamp_not_in_unix_seconds_is_401_saying_so(
    webhook: httpx.AsyncClient, ts: str
):
    r = await _post(webhook, ts)
    assert r.status_code == 401, r.text
    assert "Unix seconds" in r.json()["detail"]


async def test_a_signature_not_ascii_is_401(webhook: httpx.AsyncClient):
    now = str(int(time.time()))
    r = await webhook.post(
        "/insurer/webhook",
        content=BODY,
        headers=[
            ("Content-Type", "application/json"),
            ("X-Claimflow-Timestamp", now),
            ("X-Claimflow-Signature", b"\xe9" * 64),  # Latin-1 on the wire
        ],
    )
    assert r.status_code == 401, r.text


async def test_a_good_timestamp_still_passes_the_door(webhook: httpx.AsyncClient):
    r = await _post(webhook, str(int(time.time())))
    # Past the signature: the message itself is what is refused (a denial without its reason).
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] != "header"
