"""Delivery of nudges and alerts through the outbox, to a pluggable channel.

The outbox row is written first (once, by id); delivery follows and is marked. A retry after
a crash finds the row and delivers only what is not marked. A webhook receiver gets the
notification id as Idempotency-Key, so the rare crash between sending and marking is
harmless too.
"""

from __future__ import annotations

from typing import Protocol

import asyncpg
import httpx
import structlog
from temporalio import activity

from domain.notifications import Notification
from store import notifications

log = structlog.get_logger(__name__)


class Channel(Protocol):
    name: str

    async def send(self, n: Notification) -> None: ...


class LogChannel:
    """Writes the notification as a structured log line (the default; ops ship the logs)."""

    name = "log"

    async def send(self, n: Notification) -> None:
        log.info(
            "notification",
            claim_id=n.claim_id,
            task_id=n.task_id,
            notification_id=n.notification_id,
            kind=n.kind.value,
            recipient=n.recipient,
            message=n.message,
        )


class WebhookChannel:
    """POSTs the notification as JSON to a URL (a messaging gateway, a chat bot ...)."""

    name = "webhook"

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient(timeout=10)

    async def send(self, n: Notification) -> None:
        r = await self.client.post(
            self.url,
            content=n.model_dump_json(),
            headers={"Content-Type": "application/json", "Idempotency-Key": n.notification_id},
        )
        r.raise_for_status()


class NotifyActivities:
    def __init__(self, pool: asyncpg.Pool, channel: Channel) -> None:
        self._pool = pool
        self._channel = channel

    @activity.defn(name="notify")
    async def notify(self, n: Notification) -> None:
        async with self._pool.acquire() as conn:
            pending = await notifications.enqueue(conn, n, self._channel.name)
        if not pending:
            return
        try:
            await self._channel.send(n)
        except Exception as exc:
            await notifications.mark(self._pool, n.notification_id, f"{type(exc).__name__}: {exc}")
            raise
        await notifications.mark(self._pool, n.notification_id, None)
