"""The worker: runs claim workflows and their activities on one task queue.

Any number of workers may run against the same Temporal cluster and PostgreSQL.
"""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.dispatch import DispatchActivities
from activities.read_model import ReadModelActivities
from activities.summary import compile_case_summary
from workflows.claim import ClaimWorkflow

WORKFLOWS = [ClaimWorkflow]


def build_worker(client: Client, pool: asyncpg.Pool, task_queue: str) -> Worker:
    read_model = ReadModelActivities(pool)
    dispatch = DispatchActivities(pool)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[read_model.project_claim, dispatch.pick_field_agent, compile_case_summary],
    )
