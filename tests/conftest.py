"""One real Temporal dev server and one real PostgreSQL per test session, a worker in-process,
and the API app over HTTP (in-process ASGI). Each test gets clean read-model tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.embedded import EmbeddedPostgres, EmbeddedTemporal, free_port
from claimflow.logging import configure_logging
from claimflow.settings import Settings
from claimflow.temporal import connect
from store.db import create_pool
from tests.support.claims import TEST_PAYLOAD_KEY, TEST_SECRET, bearer
from tests.support.server import in_process
from store.migrate import migrate
from worker import build_worker

configure_logging("console", "WARNING")


@dataclass(frozen=True)
class Stack:
    temporal_address: str
    dsn: str
    data_dir: Path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    temporal = EmbeddedTemporal(base / "temporal", port=free_port(), ui_port=None)
    postgres = EmbeddedPostgres(base / "postgres")
    temporal.start()
    try:
        dsn = postgres.start()
        yield Stack(temporal.address, dsn, base)
    finally:
        temporal.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return Settings(
        temporal_address=stack.temporal_address,
        database_url=stack.dsn,
        temporal_task_queue=f"claims-test-{uuid.uuid4().hex[:8]}",
        offline_cities=["Beijing"],
        auth_secret=TEST_SECRET,
        payload_keys=TEST_PAYLOAD_KEY,
    )


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    assert settings.database_url
    await migrate(settings.database_url)
    p = await create_pool(settings.database_url)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def temporal_client(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def worker(
    temporal_client: Client, pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[None]:
    async with build_worker(temporal_client, pool, settings.temporal_task_queue):
        yield


@pytest.fixture
async def clean_db(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "TRUNCATE notifications, timeline, tasks, checklist_items, claims, field_agents,"
        " claim_openings"
    )


@pytest.fixture
async def api(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool, worker: None, clean_db: None
) -> AsyncIterator[httpx.AsyncClient]:
    claims = ClaimsClient(temporal_client, pool, settings.temporal_task_queue)
    app = create_app(settings, claims)
    async with in_process(app, timeout=30, headers=bearer(settings)) as http:
        yield http
