"""Metrics an operator scrapes: the API's requests per route and the business gauges on its
/metrics, the Temporal SDK's metrics and the same gauges on the worker's endpoint."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import asyncpg
import httpx
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.embedded import free_port
from claimflow.metrics import TemporalGauges, refresh_gauges
from claimflow.settings import Settings
from claimflow.temporal import connect, metrics_runtime
from store import gauges
from tests.support.claims import bearer, eventually, open_claim, wang_opening
from tests.support.server import served
from worker import build_worker


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus' text format, or None."""
    for line in text.splitlines():
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not m or m[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m[3])
    return None


async def test_the_api_counts_requests_by_route_and_shows_the_gauges(
    api: httpx.AsyncClient, settings: Settings, temporal_client: Client, pool: asyncpg.Pool
) -> None:
    claim = await open_claim(api)
    fast = settings.model_copy(update={"metrics_refresh": timedelta(seconds=0.2)})
    app = create_app(fast, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    async with served(app) as url, httpx.AsyncClient(base_url=url, headers=bearer(settings)) as h:
        assert (await h.get(f"/claims/{claim['claim_id']}")).status_code == 200
        assert (await h.get("/claims/CLM-NOSUCHCLAIM")).status_code == 404
        assert (await h.get("/no/such/route")).status_code == 404

        async def scraped() -> str | None:
            r = await h.get("/metrics")  # open to the scraper: no token needed
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            ready = sample(r.text, "claimflow_open_claims", stage="triage") is not None
            return r.text if ready else None

        text = await eventually(scraped)

    # The route's template, never the claim id in the path.
    route = "/claims/{claim_id}"
    assert sample(text, "claimflow_http_requests_total", route=route, method="GET", status="200")
    assert sample(text, "claimflow_http_requests_total", route=route, status="404") == 1
    assert sample(text, "claimflow_http_requests_total", route="unmatched", status="404") == 1
    assert sample(text, "claimflow_http_request_duration_seconds_count", route=route) == 2
    assert claim["claim_id"] not in text
    assert sample(text, "claimflow_open_claims", stage="triage", city="") == 1
    assert sample(text, "claimflow_open_claims", stage="", city="Beijing") == 1
    for name in ("overdue_tasks", "stalled_claims", "notifications_waiting", "broken_workflows"):
        assert sample(text, f"claimflow_{name}") == 0, name


async def test_gauges_are_read_from_the_read_model(api: httpx.AsyncClient, pool: asyncpg.Pool):
    for _ in range(2):
        await open_claim(api)
    await open_claim(api, policyholder={**wang_opening()["policyholder"], "city": "Shanghai"})
    await pool.execute(
        "UPDATE tasks SET due_at = now() - interval '1 hour' WHERE task_id ="
        " (SELECT task_id FROM tasks WHERE status = 'open' LIMIT 1)"
    )
    g = await gauges.read(pool)
    assert g.open_by_stage == {"triage": 3}
    assert g.open_by_city == {"Beijing": 2, "Shanghai": 1}
    assert g.overdue_tasks == 1


async def test_the_worker_serves_the_sdk_metrics_and_the_gauges(
    settings: Settings, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    await open_claim(api)
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(address)
    client = await connect(settings, runtime=runtime)
    sink = TemporalGauges(runtime.metric_meter)
    queue = f"metrics-{free_port()}"
    worker = build_worker(client, pool, queue)
    refresher = asyncio.create_task(refresh_gauges(pool, sink, timedelta(seconds=0.2)))
    try:
        async with worker, httpx.AsyncClient(base_url=f"http://{address}") as h:

            async def scraped() -> str | None:
                text = (await h.get("/metrics")).text
                return text if sample(text, "claimflow_open_claims", city="Beijing") else None

            text = await eventually(scraped)
            assert sample(text, "claimflow_open_claims", stage="triage") == 1
            assert sample(text, "claimflow_overdue_tasks") == 0
            # The SDK's own: its pollers at work on the worker's task queue.
            assert sample(text, "temporal_long_request_total")
            assert sample(text, "temporal_num_pollers", task_queue=queue) is not None
            # A stage with no open claim left reads 0, not its last count.
            await pool.execute("UPDATE claims SET status = 'closed'")

            async def emptied() -> bool:
                text = (await h.get("/metrics")).text
                return sample(text, "claimflow_open_claims", stage="triage") == 0

            await eventually(emptied)
    finally:
        refresher.cancel()
