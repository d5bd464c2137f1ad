"""A claim survives the worker and both servers stopping and starting on the same data."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.embedded import EmbeddedPostgres, EmbeddedTemporal, free_port
from claimflow.settings import Settings
from claimflow.temporal import connect
from store.db import create_pool
from store.migrate import migrate
from tests.support.claims import TEST_SECRET, bearer, complete, wang_opening
from worker import build_worker


class _System:
    """The whole system on given data directories, as `claimflow up` runs it."""

    def __init__(self, data: Path, port: int) -> None:
        self.temporal = EmbeddedTemporal(data / "temporal", port=port, ui_port=None)
        self.postgres = EmbeddedPostgres(data / "postgres")
        self.settings = Settings(temporal_task_queue="claims-restart", auth_secret=TEST_SECRET)

    async def __aenter__(self) -> httpx.AsyncClient:
        self.temporal.start()
        dsn = self.postgres.start()
        self.settings = self.settings.model_copy(update={"database_url": dsn})
        await migrate(dsn)
        self.pool = await create_pool(dsn)
        client = await connect(self.settings, self.temporal.address)
        self.worker = build_worker(client, self.pool, self.settings.temporal_task_queue)
        await self.worker.__aenter__()
        app = create_app(self.settings, ClaimsClient(client, self.pool, "claims-restart"))
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://claimflow.test",
            timeout=30,
            headers=bearer(self.settings),
        )
        return self.http

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.worker.__aexit__(None, None, None)
        await self.pool.close()
        self.temporal.stop()
        self.postgres.stop()


async def test_claim_survives_restart(tmp_path: Path):
    port = free_port()
    key = f"restart-{uuid.uuid4()}"

    async with _System(tmp_path, port) as http:
        r = await http.post("/claims", json=wang_opening(), headers={"Idempotency-Key": key})
        assert r.status_code == 201, r.text
        claim = r.json()
        task_id = claim["tasks"][0]["task_id"]

    # Everything is down now; start again on the same data directories.
    async with _System(tmp_path, port) as http:
        got = await http.get(f"/claims/{claim['claim_id']}")
        assert got.status_code == 200, got.text
        assert got.json()["stage"] == "triage"
        inbox = (await http.get("/tasks", params={"assignee": "xiao.gao"})).json()["items"]
        assert [t["task_id"] for t in inbox] == [task_id]

        r = await complete(
            http,
            task_id,
            {"kind": "triage", "liability": "covered", "path": "online", "explanation": "ok"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == "document_gathering"
        # The same key after the restart is still the same claim.
        again = await http.post("/claims", json=wang_opening(), headers={"Idempotency-Key": key})
        assert again.json()["claim_id"] == claim["claim_id"]


async def test_migrations_are_safe_twice_and_concurrently(stack):
    dsn = stack.dsn
    conn_db = f"migrations_{uuid.uuid4().hex[:8]}"
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{conn_db}"')
    finally:
        await admin.close()
    fresh = dsn.replace("/postgres?", f"/{conn_db}?")
    results = await asyncio.gather(*(migrate(fresh) for _ in range(4)))
    applied = [v for r in results for v in r]
    assert sorted(applied) == sorted(set(applied)), "a migration ran twice"
    assert applied, "nothing was applied to a fresh database"
    assert await migrate(fresh) == []
