"""Running the processes: the worker alone, the API alone, or everything at once (`up`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import structlog
import uvicorn

from api.app import create_app
from api.claims_client import ClaimsClient
from pydantic import SecretStr

from claimflow.bootstrap import auth_secret, ensure_admin, payload_keys
from claimflow.embedded import EmbeddedPostgres, EmbeddedTemporal
from claimflow.health import watching_workflow_health
from claimflow.settings import Settings
from claimflow.temporal import connect, ensure_search_attributes
from store.db import create_pool
from store.migrate import migrate
from worker import build_worker, notification_channel, worker_options

log = structlog.get_logger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: we stop the API and the worker together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_worker(settings: Settings) -> None:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set")
    stop = _stop_event()
    pool = await create_pool(settings.database_url, max_size=settings.database_pool_max)
    try:
        client = await connect(settings)
        if settings.temporal_search_attributes:
            await ensure_search_attributes(client, settings.temporal_namespace)
        worker = build_worker(
            client, pool, settings.temporal_task_queue, notification_channel(settings),
            **worker_options(settings),
        )
        async with worker, watching_workflow_health(
            client, pool, settings.health_check_every, task_queue=settings.temporal_task_queue
        ):
            log.info("worker_started", task_queue=settings.temporal_task_queue)
            await stop.wait()
    finally:
        await pool.close()
    log.info("worker_stopped")


async def serve_all(settings: Settings, temporal_address: str, dsn: str, banner: str) -> None:
    """Migrations, then the worker and the API in this process until SIGINT/SIGTERM."""
    stop = _stop_event()
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=settings.database_pool_max)
    data = Path(settings.data_dir).resolve()
    settings = settings.model_copy(update={"database_url": dsn})
    if settings.auth_secret is None:
        settings = settings.model_copy(update={"auth_secret": SecretStr(auth_secret(data))})
    if settings.payload_keys is None:
        settings = settings.model_copy(update={"payload_keys": SecretStr(payload_keys(data))})
    await ensure_admin(pool, data)
    if (data / "admin-password").exists():
        banner += f"  sign in       admin, password in {data / 'admin-password'}\n\n"
    try:
        client = await connect(settings, temporal_address)
        claims = ClaimsClient(client, pool, settings.temporal_task_queue)
        app = create_app(settings, claims)
        server = _QuietServer(
            uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_config=None)
        )
        if settings.temporal_search_attributes:
            await ensure_search_attributes(client, settings.temporal_namespace)
        worker = build_worker(
            client, pool, settings.temporal_task_queue, notification_channel(settings),
            **worker_options(settings),
        )
        async with worker, watching_workflow_health(
            client, pool, settings.health_check_every, task_queue=settings.temporal_task_queue
        ):
            api = asyncio.create_task(server.serve())
            while not server.started and not api.done():
                await asyncio.sleep(0.05)
            if api.done():
                api.result()  # e.g. the port is taken: raise it
            sys.stdout.write(banner)
            sys.stdout.flush()
            await stop.wait()
            server.should_exit = True
            await api
    finally:
        await pool.close()


def up(settings: Settings) -> None:
    """Everything on one machine: embedded servers where no address/URL is configured."""
    data = Path(settings.data_dir).resolve()
    temporal = None
    postgres = None
    try:
        address = settings.temporal_address
        if not address:
            temporal = EmbeddedTemporal(
                data / "temporal",
                port=settings.temporal_port,
                ui_port=settings.temporal_ui_port if settings.temporal_ui else None,
            )
            temporal.start()
            address = temporal.address
        dsn = settings.database_url
        if not dsn:
            postgres = EmbeddedPostgres(data / "postgres")
            dsn = postgres.start()
        api = f"http://{settings.api_host}:{settings.api_port}"
        banner = "\n".join(
            [
                "",
                "claimflow is up. Ctrl-C stops everything.",
                f"  console       {api}/console/",
                f"  API docs      {api}/docs",
                f"  readiness     {api}/readyz",
                f"  Temporal UI   {temporal.ui_url if temporal and temporal.ui_url else '(external)'}",
                f"  Temporal      {address}",
                f"  PostgreSQL    {'embedded, data in ' + str(data / 'postgres') if postgres else 'DATABASE_URL'}",
                f"  data          {data}",
                "",
                "",
            ]
        )
        asyncio.run(serve_all(settings, address, dsn, banner))
    finally:
        if temporal:
            temporal.stop()
        if postgres:
            postgres.stop()
