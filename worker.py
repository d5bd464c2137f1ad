"""The worker: runs claim workflows and their activities on one task queue.

Any number of workers may run against the same Temporal cluster and PostgreSQL.
"""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.dispatch import DispatchActivities
from activities.notify import Channel, LogChannel, NotifyActivities, WebhookChannel
from activities.read_model import ReadModelActivities
from activities.summary import compile_case_summary
from claimflow.settings import Settings
from workflows.claim import ClaimWorkflow

WORKFLOWS = [ClaimWorkflow]


def notification_channel(settings: Settings) -> Channel:
    if settings.notification_channel == "webhook":
        if not settings.notification_webhook_url:
            raise SystemExit("CLAIMFLOW_NOTIFICATION_WEBHOOK_URL is not set")
        return WebhookChannel(settings.notification_webhook_url)
    return LogChannel()


def build_worker(
    client: Client, pool: asyncpg.Pool, task_queue: str, channel: Channel | None = None
) -> Worker:
    read_model = ReadModelActivities(pool)
    dispatch = DispatchActivities(pool)
    notify = NotifyActivities(pool, channel or LogChannel())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            read_model.project_claim,
            dispatch.pick_field_agent,
            compile_case_summary,
            notify.notify,
        ],
    )
