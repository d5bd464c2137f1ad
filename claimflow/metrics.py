"""Prometheus metrics: what an operator and a claims team watch.

- The API counts its requests per route (the route's template, never the ids in the path),
  method and status, and times them: `claimflow_http_requests_total`,
  `claimflow_http_request_duration_seconds`. Served on the API's own `/metrics`.
- The worker exports the Temporal SDK's metrics (workflow and activity task latencies, slots,
  pollers, sticky cache) from the SDK's own Prometheus endpoint
  (`CLAIMFLOW_WORKER_METRICS_ADDRESS`).
- Both export the business gauges (`claimflow_open_claims` by stage and by city, overdue
  tasks, stalled claims, notifications waiting, claims whose workflow stopped), read from the
  read model every `CLAIMFLOW_METRICS_REFRESH` by a background loop, so a scrape never touches
  PostgreSQL and a hundred scrapes cost what one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any, Protocol

import asyncpg
import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from temporalio.common import MetricMeter

from claimflow.logging import request_id_of
from store import gauges

log = structlog.get_logger(__name__)
access = structlog.get_logger("claimflow.access")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Per gauge: its name, help text and the ClaimGauges field it shows.
SCALARS = (
    ("claimflow_overdue_tasks", "Open tasks past their due time", "overdue_tasks"),
    ("claimflow_stalled_claims", "Open claims marked stalled", "stalled_claims"),
    ("claimflow_notifications_waiting", "Notifications not yet delivered", "notifications_waiting"),
    ("claimflow_broken_workflows", "Claims whose workflow stopped before the end", "broken_workflows"),
)
OPEN_CLAIMS = ("claimflow_open_claims", "Open claims, by stage or by city")


class GaugeSink(Protocol):
    def publish(self, g: gauges.ClaimGauges) -> None: ...


class ApiMetrics:
    """The API process's registry: request metrics and the business gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "claimflow_http_requests",
            "HTTP requests answered, by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "claimflow_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            ("route", "method"),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.open_claims = Gauge(
            OPEN_CLAIMS[0], OPEN_CLAIMS[1], ("stage", "city"), registry=self.registry
        )
        self.scalars = {
            attr: Gauge(name, text, registry=self.registry) for name, text, attr in SCALARS
        }

    def publish(self, g: gauges.ClaimGauges) -> None:
        self.open_claims.clear()  # a stage or city with no open claim left disappears
        for stage, n in g.open_by_stage.items():
            self.open_claims.labels(stage=stage, city="").set(n)
        for city, n in g.open_by_city.items():
            self.open_claims.labels(stage="", city=city).set(n)
        for attr, gauge in self.scalars.items():
            gauge.set(getattr(g, attr))

    async def endpoint(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class TemporalGauges:
    """The business gauges through the Temporal SDK's meter: the worker's one endpoint."""

    def __init__(self, meter: MetricMeter) -> None:
        self._open = meter.create_gauge(OPEN_CLAIMS[0], OPEN_CLAIMS[1])
        self._scalars = {attr: meter.create_gauge(name, text) for name, text, attr in SCALARS}
        self._seen: set[tuple[str, str]] = set()

    def publish(self, g: gauges.ClaimGauges) -> None:
        now = {("stage", s): n for s, n in g.open_by_stage.items()}
        now |= {("city", c): n for c, n in g.open_by_city.items()}
        # The SDK's gauges cannot drop a label set: one seen before and gone now reads 0.
        for key in self._seen - now.keys():
            self._open.set(0, {key[0]: key[1]})
        for (label, value), n in now.items():
            self._open.set(n, {label: value})
        self._seen = set(now)
        for attr, gauge in self._scalars.items():
            gauge.set(getattr(g, attr))


async def refresh_gauges(pool: asyncpg.Pool, sink: GaugeSink, every: timedelta) -> None:
    """Read the gauges and publish them, every `every`, until cancelled. A database outage
    leaves the last figures and is logged once per failure, never raised."""
    while True:
        try:
            sink.publish(await gauges.read(pool))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("metrics_gauges_not_read", error=type(exc).__name__)
        await asyncio.sleep(every.total_seconds())


# Probes and scrapes: their access lines are DEBUG, not one INFO line every few seconds.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestMetricsMiddleware:
    """Pure ASGI (no per-request task or stream), the outermost of the API's own layers.

    Per request: an id (the caller's `X-Request-ID` if it is a plain token, else a new one)
    bound to every log line written while it runs and sent back as `X-Request-ID`; the
    request counted and timed by the template of the route that answered
    (`/tasks/{task_id}/complete`, `unmatched` for none); and one access line: method, route,
    status, duration, the signed-in user's id. No path ids, bodies or query strings."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler is answered 500
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message["headers"] = headers
            await send(message)

        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                await self.app(scope, receive, sending)
        finally:
            took = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            labels = (template or "unmatched", scope["method"])
            self.metrics.requests.labels(*labels, str(status)).inc()
            self.metrics.duration.labels(*labels).observe(took)
            (access.debug if labels[0] in QUIET_ROUTES else access.info)(
                "request",
                request_id=request_id,
                method=labels[1],
                route=labels[0],
                status=status,
                duration_ms=round(took * 1000, 1),
                user_id=scope["state"].get("user_id"),
            )


@contextlib.asynccontextmanager
async def gauges_refreshing(
    pool: asyncpg.Pool, sink: GaugeSink, every: timedelta
) -> AsyncIterator[None]:
    """The gauges refreshed in the background while the block runs (not at all for a zero
    interval)."""
    if every <= timedelta(0):
        yield
        return
    task = asyncio.create_task(refresh_gauges(pool, sink, every), name="metrics-gauges")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
