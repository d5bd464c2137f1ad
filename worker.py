"""The worker: runs claim workflows and their activities on one task queue.

Any number of workers may run against the same Temporal cluster and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.dispatch import DispatchActivities
from activities.notify import Channel, LogChannel, NotifyActivities, WebhookChannel
from activities.read_model import ReadModelActivities
from activities.summary import compile_case_summary
from claimflow.settings import Settings
from workflows.claim import ClaimWorkflow
from workflows.legacy.claim_case import LegacyClaimWorkflow

# Claims opened before continue-as-new finish under the workflow they were opened with.
WORKFLOWS = [ClaimWorkflow, LegacyClaimWorkflow]
T = TypeVar("T")


# Modules loaded once for every workflow instance instead of re-run in each instance's
# sandbox (BENCHMARKS.md: importing was ~10% of the worker): the pure domain, its libraries,
# and the workflow modules themselves, which hold no state of their own at module level and
# reach time, randomness and I/O only through Temporal's APIs (the replay tests check them).
PASSED_THROUGH = (
    "domain", "pydantic", "pydantic_core", "annotated_types", "structlog", "workflows",
    "activities",
)  # fmt: skip


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    )


def notification_channel(settings: Settings) -> Channel:
    if settings.notification_channel == "webhook":
        if not settings.notification_webhook_url:
            raise SystemExit("CLAIMFLOW_NOTIFICATION_WEBHOOK_URL is not set")
        return WebhookChannel(settings.notification_webhook_url)
    return LogChannel()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Worker tuning from CLAIMFLOW_WORKER_*; what is unset keeps the SDK's default."""
    options: dict[str, Any] = {
        "max_cached_workflows": settings.worker_max_cached_workflows,
        # On SIGTERM running activities finish (up to this long) before they are cancelled.
        "graceful_shutdown_timeout": settings.worker_graceful_shutdown,
    }
    if settings.worker_max_concurrent_workflow_tasks is not None:
        options["max_concurrent_workflow_tasks"] = settings.worker_max_concurrent_workflow_tasks
    if settings.worker_max_concurrent_activities is not None:
        options["max_concurrent_activities"] = settings.worker_max_concurrent_activities
    if settings.worker_workflow_task_pollers is not None:
        options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            settings.worker_workflow_task_pollers
        )
    if settings.worker_activity_task_pollers is not None:
        options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            settings.worker_activity_task_pollers
        )
    return options


def run_loop(main: Coroutine[Any, Any, T], settings: Settings) -> T:
    """Run a worker process's event loop: uvloop where installed and not switched off
    (measured: about 8% less worker CPU per task completion, see BENCHMARKS.md)."""
    if settings.worker_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    channel: Channel | None = None,
    **options: Any,
) -> Worker:
    """`options` are Worker keyword arguments, e.g. `worker_options(settings)`."""
    read_model = ReadModelActivities(pool)
    dispatch = DispatchActivities(pool)
    notify = NotifyActivities(pool, channel or LogChannel())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=[
            read_model.project_changes,
            read_model.project_claim,
            dispatch.pick_field_agent,
            compile_case_summary,
            notify.notify,
        ],
        **options,
    )
