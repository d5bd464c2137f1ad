"""Workflow health: find the claims whose workflow stopped without closing them, and mark
them in the read model (store/workflow_health.py).

A claim workflow that failed, was terminated (e.g. by Temporal, past its history limit),
timed out or was canceled cannot project itself any more, so this asks Temporal, not the
workflow: visibility lists the ClaimCase runs that closed so, and for each workflow id the
*latest* run decides (`describe()` of the id describes it). A run that continued as new is
not broken (its successor carries the claim), nor is an older run that was terminated by a
reset (the reset run carries it). The reason is read from the latest run's close event: the
failure's type and first line, or the termination reason.

Run by `claimflow reconcile` (reports, and with `--repair` marks) and, every
`CLAIMFLOW_HEALTH_CHECK_EVERY`, by the worker process (`watch_workflow_health`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

from domain.models import BrokenWorkflow
from domain.vocabulary import WorkflowStop
from store import workflow_health

log = structlog.get_logger(__name__)

WORKFLOW_TYPES = ("Claim", "ClaimCase")  # "ClaimCase": claims opened before continue-as-new
CLAIM_WORKFLOWS = "(" + " OR ".join(f"WorkflowType = '{t}'" for t in WORKFLOW_TYPES) + ")"
"""The visibility query's clause for every claim workflow, of either type."""

STOPS: dict[WorkflowExecutionStatus, WorkflowStop] = {
    WorkflowExecutionStatus.FAILED: WorkflowStop.FAILED,
    WorkflowExecutionStatus.TERMINATED: WorkflowStop.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT: WorkflowStop.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED: WorkflowStop.CANCELED,
}
"""The ways a run closes that leave its claim with nothing to move it."""


def broken_query(since: datetime | None = None, task_queue: str | None = None) -> str:
    """The visibility query of claim runs closed abnormally (since `since`, if given)."""
    parts = [
        CLAIM_WORKFLOWS,
        "(ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated'"
        " OR ExecutionStatus = 'TimedOut' OR ExecutionStatus = 'Canceled')",
    ]
    if task_queue:
        parts.append(f"TaskQueue = '{task_queue}'")
    if since is not None:
        at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts.append(f"CloseTime >= '{at}'")
    return " AND ".join(parts)


class _Unknown:
    """Temporal does not know the workflow (past retention, or never started)."""


UNKNOWN = _Unknown()


async def _failure_reason(client: Client, failure: Failure) -> str:
    message = failure.message
    if failure.HasField("encoded_attributes"):  # a codec that encodes failure messages
        copy = Failure()
        copy.CopyFrom(failure)
        with contextlib.suppress(Exception):
            message = str(await client.data_converter.decode_failure(copy))
    kind = (
        failure.application_failure_info.type
        if failure.HasField("application_failure_info")
        else ""
    )
    first = workflow_health.short_reason(message, "no message")
    return workflow_health.short_reason(f"{kind}: {first}" if kind else first)


async def _close_reason(
    client: Client, workflow_id: str, run_id: str | None, timeout: timedelta
) -> str:
    """Why the run closed, from its close event (no personal data: see short_reason)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT, rpc_timeout=timeout
    ):
        if event.HasField("workflow_execution_failed_event_attributes"):
            return await _failure_reason(
                client, event.workflow_execution_failed_event_attributes.failure
            )
        if event.HasField("workflow_execution_terminated_event_attributes"):
            reason = event.workflow_execution_terminated_event_attributes.reason
            return workflow_health.short_reason(reason, "no reason given")
        if event.HasField("workflow_execution_timed_out_event_attributes"):
            return "the workflow's execution timeout elapsed"
        if event.HasField("workflow_execution_canceled_event_attributes"):
            return "the workflow was canceled"
    return ""


async def latest_stop(
    client: Client, workflow_id: str, timeout: timedelta = timedelta(seconds=15)
) -> BrokenWorkflow | None | _Unknown:
    """How the latest run of this workflow id stopped, if it stopped abnormally; None while
    it runs, once it completed or continued as new; UNKNOWN if Temporal has no such id."""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe(rpc_timeout=timeout)
        stop = STOPS.get(desc.status) if desc.status is not None else None
        if stop is None:
            return None
        reason = await _close_reason(client, workflow_id, desc.run_id, timeout)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return UNKNOWN
        raise
    return BrokenWorkflow(status=stop, reason=reason, at=desc.close_time or datetime.now(UTC))


async def find_broken(
    client: Client,
    *,
    since: datetime | None = None,
    task_queue: str | None = None,
    concurrency: int = 8,
    timeout: timedelta = timedelta(seconds=15),
) -> dict[str, BrokenWorkflow]:
    """Claim id -> how its workflow stopped, for every claim whose latest run closed
    abnormally (and, with `since`, whose abnormal run closed since then)."""
    ids: dict[str, None] = {}
    async for wf in client.list_workflows(broken_query(since, task_queue)):
        ids[wf.id] = None
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> BrokenWorkflow | None | _Unknown:
        async with gate:
            return await latest_stop(client, workflow_id, timeout)

    stops = await asyncio.gather(*(one(i) for i in ids))
    return {
        i: s for i, s in zip(ids, stops, strict=True) if isinstance(s, BrokenWorkflow)
    }


@dataclass
class HealthReport:
    broken: dict[str, BrokenWorkflow] = field(default_factory=dict)
    """Every claim found with a stopped workflow (whether it has a read-model row or not)."""
    marked: list[str] = field(default_factory=list)
    """Claims marked (or re-marked) by this check."""
    cleared: list[str] = field(default_factory=list)
    """Claims whose mark was removed: their workflow runs (again) or completed."""


async def check_workflow_health(
    client: Client,
    pool: asyncpg.Pool,
    *,
    since: datetime | None = None,
    task_queue: str | None = None,
    mark: bool = True,
    clear_stale: bool | None = None,
    concurrency: int = 8,
    timeout: timedelta = timedelta(seconds=15),
) -> HealthReport:
    """Find the claims whose workflow stopped and, with `mark`, mark them (idempotent: a
    claim already so marked is left alone). `clear_stale` (by default: on a full check,
    without `since`) also looks at every marked claim not found and removes the mark where
    its workflow is running or completed."""
    report = HealthReport()
    report.broken = await find_broken(
        client, since=since, task_queue=task_queue, concurrency=concurrency, timeout=timeout
    )
    if not mark:
        return report
    for claim_id, broken in report.broken.items():
        if await workflow_health.mark(pool, claim_id, broken):
            report.marked.append(claim_id)
    if clear_stale if clear_stale is not None else since is None:
        for claim_id in await workflow_health.marked(pool):
            if claim_id in report.broken:
                continue
            stop = await latest_stop(client, claim_id, timeout)
            if stop is None:
                if await workflow_health.clear(pool, claim_id):
                    report.cleared.append(claim_id)
            elif isinstance(stop, BrokenWorkflow):  # e.g. on another task queue, or new
                report.broken[claim_id] = stop
                if await workflow_health.mark(pool, claim_id, stop):
                    report.marked.append(claim_id)
            # UNKNOWN: past retention; the mark stays, it is all that is left to say.
    if report.marked or report.cleared:
        log.warning(
            "workflow_health_marked",
            marked={
                c: f"{report.broken[c].status.value}: {report.broken[c].reason}"
                for c in report.marked
            },
            cleared=report.cleared,
        )
    return report


async def watch_workflow_health(
    client: Client,
    pool: asyncpg.Pool,
    every: timedelta,
    *,
    task_queue: str | None = None,
    full_every: timedelta = timedelta(hours=1),
) -> None:
    """Check every `every` until cancelled (run it beside the Worker).

    The first check, and one every `full_every`, looks at every claim run that ever closed
    abnormally and at every mark; the others only at runs closed since the last successful
    check (with an overlap, for visibility's lag). A failed check (Temporal or PostgreSQL
    away) is logged and retried at the next tick, from the same point."""
    since: datetime | None = None
    last_full: datetime | None = None
    overlap = max(2 * every, timedelta(minutes=5))
    while True:
        started = datetime.now(UTC)
        full = last_full is None or started - last_full >= full_every
        try:
            await check_workflow_health(
                client, pool, since=None if full else since, task_queue=task_queue
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the watch outlives any one failure
            log.warning("workflow_health_check_failed", error=f"{type(exc).__name__}: {exc}")
        else:
            since = started - overlap
            if full:
                last_full = started
        await asyncio.sleep(every.total_seconds())


@contextlib.asynccontextmanager
async def watching_workflow_health(
    client: Client, pool: asyncpg.Pool, every: timedelta, *, task_queue: str | None = None
) -> AsyncIterator[asyncio.Task[None] | None]:
    """`watch_workflow_health` in a task for the duration of the block (none when `every`
    is zero): `async with worker, watching_workflow_health(client, pool, every): ...`."""
    if every <= timedelta(0):
        yield None
        return
    task = asyncio.create_task(
        watch_workflow_health(client, pool, every, task_queue=task_queue),
        name="watch_workflow_health",
    )
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
