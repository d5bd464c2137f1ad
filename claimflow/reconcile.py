"""`claimflow reconcile`: does the read model match the workflows exactly? Repair it if not.

For every ClaimCase workflow (optionally only those active since a time):
- a running claim's truth is what its workflow answers now: the `state` and `all_tasks`
  queries;
- a closed claim's truth is its history: the final ClaimView (a "ClaimCase" run's result; a
  "Claim" run's `state` query, answered by a worker replaying it) and every
  task and timeline entry it ever sent to the projection (the inputs of its `project_claim`
  activities, replayed in order, the last word on each task winning).
`store.reconcile.compare` lists the differences. A running claim changes under our feet, so a
claim found different is looked at again after `settle` seconds, and only what persists is
reported.

Repair (`--repair`):
- a running claim: the `resync` Update re-projects the claim and every task; timeline holes
  are filled from the entries in its history; task rows the workflow never created (numbered
  within what it has created) are deleted.
- a closed claim: the claim row, checklist, every task and every timeline entry are written
  from its history; task rows it never created and timeline entries beyond its last version
  are deleted.
A claim whose workflow stopped without closing it (its latest run failed, was terminated,
timed out or was canceled; `claimflow.health`) has no truth to write: it is listed under
"workflows stopped" on every run, and is a difference (`workflow_not_completed`) until its row
is marked so (`--repair` marks it, as the worker's health check does); a mark whose workflow
runs again is a difference (`workflow_mark_stale`) that `--repair` removes.
What it cannot repair, and reports: an open claim row with no workflow, a stopped workflow
whose claim has no row, a workflow that does not answer (no worker on its queue), a nudge missing
from the notifications outbox (the notify step writes the outbox, not the projection), and the
content of a timeline entry that exists with other values (only missing ones are written).
Closed workflows past the namespace's retention are not listed, so not checked.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from claimflow.health import CLAIM_WORKFLOWS, find_broken
from domain.models import BrokenWorkflow, ClaimProjection, ClaimView, Task, TimelineEntry
from domain.vocabulary import TaskStatus
from store import reconcile as rc
from store import workflow_health
from workflows.claim import ClaimWorkflow

log = structlog.get_logger(__name__)

PROJECT_ACTIVITY = "project_claim"


@dataclass
class ReconcileReport:
    checked: int = 0
    running: int = 0
    closed: int = 0
    differences: list[rc.Difference] = field(default_factory=list)
    """What was found (and persisted through the settle pause)."""
    repaired: list[str] = field(default_factory=list)
    """Claims that differed and are in sync after the repair."""
    remaining: list[rc.Difference] = field(default_factory=list)
    """What still differs: after the repair, or everything found when not repairing."""
    repair_errors: dict[str, str] = field(default_factory=dict)
    broken: dict[str, BrokenWorkflow] = field(default_factory=dict)
    """Claims whose workflow stopped without closing them, and how (claimflow.health)."""
    marked: list[str] = field(default_factory=list)
    """Of those, the claims the repair marked in the read model."""
    unmarked: list[str] = field(default_factory=list)
    """Stale marks the repair removed (the claim's workflow runs again)."""

    @property
    def differing(self) -> set[str]:
        return {d.claim_id for d in self.differences}

    checked_ids: set[str] = field(default_factory=set, repr=False)

    @property
    def in_sync(self) -> int:
        return len(self.checked_ids - self.differing)

    def by_kind(self, diffs: list[rc.Difference] | None = None) -> dict[str, int]:
        counts = Counter(d.kind for d in (self.differences if diffs is None else diffs))
        return {k: counts[k] for k in rc.KINDS if counts[k]}

    @property
    def exit_code(self) -> int:
        return 1 if self.remaining else 0

    def summary(self, repair: bool) -> str:
        lines = [
            f"claims checked: {self.checked} (running {self.running}, closed {self.closed})",
            f"in sync: {self.in_sync}",
            f"differences: {len(self.differences)} in {len(self.differing)} claim(s)",
        ]
        lines += [f"  {kind}: {n}" for kind, n in self.by_kind().items()]
        lines += _listed(self.differences)
        lines.append(f"workflows stopped: {len(self.broken)}")
        lines += [
            f"    {claim_id} {b.status.value} at {b.at.isoformat()}: {b.reason or '-'}"
            for claim_id, b in sorted(self.broken.items())
        ]
        if repair:
            lines.append(f"marked stopped: {len(self.marked)} claim(s)")
            if self.unmarked:
                lines.append(f"stale marks removed: {len(self.unmarked)} claim(s)")
            lines.append(f"repaired: {len(self.repaired)} claim(s)")
            for claim_id, error in sorted(self.repair_errors.items()):
                lines.append(f"  repair failed for {claim_id}: {error}")
            lines.append(f"still different: {len(self.remaining)}")
            lines += [f"  {kind}: {n}" for kind, n in self.by_kind(self.remaining).items()]
            lines += _listed(self.remaining)
        return "\n".join(lines) + "\n"


def _listed(diffs: list[rc.Difference], limit: int = 200) -> list[str]:
    lines = [f"    {d}" for d in diffs[:limit]]
    if len(diffs) > limit:
        lines.append(f"    ... and {len(diffs) - limit} more")
    return lines


def list_query(since: datetime | None = None, task_queue: str | None = None) -> str:
    """The claims to check: every claim workflow, or those running or closed since `since`."""
    parts = [CLAIM_WORKFLOWS]
    if task_queue:
        parts.append(f"TaskQueue = '{task_queue}'")
    if since is not None:
        at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts.append(f"(ExecutionStatus = 'Running' OR CloseTime >= '{at}')")
    return " AND ".join(parts)


# --- the truth ----------------------------------------------------------------------------


@dataclass
class _History:
    status: str
    result: ClaimView | None
    tasks: dict[str, Task]
    timeline: dict[int, TimelineEntry]


async def _read_history(
    client: Client, handle: WorkflowHandle[Any, Any], timeout: timedelta
) -> _History:
    """Every projection the workflow sent, replayed in order, and its result if completed."""
    history = await handle.fetch_history(rpc_timeout=timeout)
    converter = client.data_converter
    tasks: dict[str, Task] = {}
    timeline: dict[int, TimelineEntry] = {}
    result: ClaimView | None = None
    status = "running"
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != PROJECT_ACTIVITY:
                continue
            (projection,) = await converter.decode(attrs.input.payloads, [ClaimProjection])
            for task in projection.tasks:
                tasks[task.task_id] = task
            for entry in projection.timeline:
                timeline.setdefault(entry.seq, entry)
        elif event.HasField("workflow_execution_completed_event_attributes"):
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            (answer,) = await converter.decode(payloads, [dict])
            # A "ClaimCase" run ends with its whole view, a "Claim" run with its step only.
            result = ClaimView.model_validate(answer) if "opening" in answer else None
            status = "completed"
        elif event.HasField("workflow_execution_failed_event_attributes"):
            status = "failed"
        elif event.HasField("workflow_execution_terminated_event_attributes"):
            status = "terminated"
        elif event.HasField("workflow_execution_timed_out_event_attributes"):
            status = "timed out"
        elif event.HasField("workflow_execution_canceled_event_attributes"):
            status = "canceled"
        elif event.HasField("workflow_execution_continued_as_new_event_attributes"):
            status = "continued as new"
    return _History(status, result, tasks, timeline)


async def truth_of(
    client: Client, workflow_id: str, running: bool, timeout: timedelta
) -> rc.Truth | rc.Difference:
    handle = client.get_workflow_handle(workflow_id)
    try:
        if running:
            try:
                view = await handle.query(
                    ClaimWorkflow.state,
                    reject_condition=QueryRejectCondition.NOT_OPEN,
                    rpc_timeout=timeout,
                )
                tasks = await handle.query(
                    ClaimWorkflow.all_tasks,
                    reject_condition=QueryRejectCondition.NOT_OPEN,
                    rpc_timeout=timeout,
                )
                # A "ClaimCase" run answers with every task it made, a "Claim" run with its
                # open ones only: a closed task in the answer tells which.
                everything = any(t.status is not TaskStatus.OPEN for t in tasks)
                return rc.Truth(claim=view, tasks=tasks, running=True, open_only=not everything)
            except WorkflowQueryRejectedError:
                pass  # it closed since it was listed: its history tells
        h = await _read_history(client, handle, timeout)
    except (TimeoutError, RPCError, WorkflowQueryFailedError) as exc:
        return rc.Difference(workflow_id, rc.TRUTH_UNAVAILABLE, f"{type(exc).__name__}: {exc}")
    if h.status == "running":
        # Closed in the listing, or its query rejected as not open, yet running now: ask again.
        return rc.Difference(workflow_id, rc.TRUTH_UNAVAILABLE, "the workflow is changing state")
    if h.result is None and h.status == "completed":
        # The closed claim's state, as the workflow ends it: a worker replays it to answer.
        try:
            h.result = await handle.query(ClaimWorkflow.state, rpc_timeout=timeout)
        except (TimeoutError, RPCError, WorkflowQueryFailedError) as exc:
            return rc.Difference(workflow_id, rc.TRUTH_UNAVAILABLE, f"{type(exc).__name__}: {exc}")
    if h.result is None:
        return rc.Difference(workflow_id, rc.WORKFLOW_NOT_COMPLETED, f"the workflow {h.status}")
    # A legacy run's projections are activities: their inputs, in its history, name every
    # task and entry. A "Claim" run projects by local activity and knows only its open tasks.
    return rc.Truth(
        claim=h.result,
        tasks=list(h.tasks.values()),
        running=False,
        timeline=h.timeline,
        open_only=not h.tasks,
    )


# --- the check ------------------------------------------------------------------------------


class Reconciler:
    def __init__(
        self,
        client: Client,
        pool: asyncpg.Pool,
        *,
        concurrency: int = 8,
        timeout: timedelta = timedelta(seconds=15),
    ) -> None:
        self.client = client
        self.pool = pool
        self.gate = asyncio.Semaphore(concurrency)
        self.timeout = timeout

    async def _truth(self, workflow_id: str, running: bool) -> rc.Truth | rc.Difference:
        async with self.gate:
            return await truth_of(self.client, workflow_id, running, self.timeout)

    async def check(
        self, claims: dict[str, bool]
    ) -> tuple[dict[str, rc.Truth], dict[str, list[rc.Difference]]]:
        """claim id -> running? gives each claim's truth and its differences (500 claims at a
        time: truths asked `concurrency` at once, their rows read together)."""
        truths: dict[str, rc.Truth] = {}
        diffs: dict[str, list[rc.Difference]] = {}
        everyone = list(claims)
        for start in range(0, len(everyone), 500):
            ids = everyone[start : start + 500]
            answers = await asyncio.gather(*(self._truth(c, claims[c]) for c in ids))
            rows = await rc.load_rows(self.pool, ids)
            for claim_id, answer in zip(ids, answers, strict=True):
                if isinstance(answer, rc.Difference):
                    diffs[claim_id] = [answer]
                    continue
                truths[claim_id] = answer
                found = rc.compare(answer, rows[claim_id])
                if found:
                    diffs[claim_id] = found
        return truths, diffs

    async def repair(self, claim_id: str, truth: rc.Truth, diffs: list[rc.Difference]) -> None:
        kinds = {d.kind for d in diffs}
        if not kinds - rc.unrepairable(truth):
            return
        if truth.open_only and rc.TASK_MISSING in kinds:
            holes = [d.detail for d in diffs if d.kind == rc.TASK_MISSING]
            ids = [t for d in holes for t in re.findall(rf"{claim_id}-T\d+", d)]
            await rc.rebuild_tasks(self.pool, claim_id, ids)
        if truth.running:
            await self._repair_running(claim_id, truth, kinds)
        else:
            await self._repair_closed(claim_id, truth)

    async def _repair_running(self, claim_id: str, truth: rc.Truth, kinds: set[str]) -> None:
        handle = self.client.get_workflow_handle(claim_id)
        await rc.lower_versions(self.pool, claim_id, truth.claim.version)
        view = await handle.execute_update(ClaimWorkflow.resync, rpc_timeout=self.timeout)
        if rc.TIMELINE_GAP in kinds and not truth.open_only:
            h = await _read_history(self.client, handle, self.timeout)
            await rc.insert_timeline(
                self.pool, [e for s, e in sorted(h.timeline.items()) if s <= view.version]
            )
        if rc.TASK_UNKNOWN in kinds:
            # Delete only rows numbered within what the workflow has created: a higher number
            # may be a task opened since we asked.
            tasks = await handle.query(ClaimWorkflow.all_tasks, rpc_timeout=self.timeout)
            known = {t.task_id for t in tasks}
            top = max((rc.task_seq(t) or 0 for t in known), default=0)
            if truth.open_only:  # only open rows can be unknown to it (rc.compare)
                rows = (await rc.load_rows(self.pool, [claim_id]))[claim_id]
                known |= {t for t, r in rows.tasks.items() if r["status"] != "open"}
            rows = (await rc.load_rows(self.pool, [claim_id]))[claim_id]
            bogus = [
                t for t in rows.tasks
                if t not in known and (rc.task_seq(t) is None or rc.task_seq(t) <= top)  # type: ignore[operator]
            ]  # fmt: skip
            await rc.delete_tasks(self.pool, claim_id, bogus)

    async def _repair_closed(self, claim_id: str, truth: rc.Truth) -> None:
        timeline = sorted((truth.timeline or {}).values(), key=lambda e: e.seq)
        await rc.write_truth(self.pool, truth.claim, truth.tasks, timeline)
        rows = (await rc.load_rows(self.pool, [claim_id]))[claim_id]
        known = {t.task_id for t in truth.tasks}
        if truth.open_only:
            # Its closed tasks are not in its history: rows left open are written again
            # from the timeline, which records how each task ended.
            left = [t for t, r in rows.tasks.items() if r["status"] == "open"]
            await rc.delete_tasks(self.pool, claim_id, left)
            await rc.rebuild_tasks(self.pool, claim_id, left)
        else:
            await rc.delete_tasks(self.pool, claim_id, [t for t in rows.tasks if t not in known])
        await rc.delete_timeline_beyond(self.pool, claim_id, truth.claim.version)


async def reconcile(
    client: Client,
    pool: asyncpg.Pool,
    *,
    repair: bool = False,
    since: datetime | None = None,
    task_queue: str | None = None,
    settle: float = 2.0,
    concurrency: int = 8,
    timeout: timedelta = timedelta(seconds=15),
) -> ReconcileReport:
    """Compare every claim workflow with the read model; with `repair`, fix what differs."""
    report = ReconcileReport()
    claims: dict[str, bool] = {}
    async for wf in client.list_workflows(list_query(since, task_queue)):
        # A claim that continued as new is a chain of runs: only its latest run speaks.
        if wf.status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
            claims.setdefault(wf.id, False)
            continue
        claims[wf.id] = claims.get(wf.id, False) or _is_running(wf)
    report.checked = len(claims)
    report.checked_ids = set(claims)
    report.running = sum(claims.values())
    report.closed = report.checked - report.running

    # A stopped workflow's truth is how it stopped: its claim is checked for its mark only.
    report.broken = await find_broken(
        client, since=since, task_queue=task_queue, concurrency=concurrency, timeout=timeout
    )
    listed = set(claims)
    claims = {c: running for c, running in claims.items() if c not in report.broken}
    health = await _health_differences(pool, report.broken, listed, full=since is None)

    r = Reconciler(client, pool, concurrency=concurrency, timeout=timeout)
    truths, diffs = await r.check(claims)
    if diffs and settle > 0:
        # A running claim may be between a change and its projection: look again.
        await asyncio.sleep(settle)
        again_truths, diffs = await r.check({c: claims[c] for c in diffs})
        truths.update(again_truths)
    if task_queue is None:
        for claim_id in await rc.open_claims_without_workflow(pool, listed, since):
            if not await _workflow_exists(client, claim_id, timeout):  # not just listed late
                diffs[claim_id] = [
                    rc.Difference(claim_id, rc.CLAIM_UNKNOWN, "an open claim row, no workflow")
                ]
    report.differences = [d for found in diffs.values() for d in found]
    report.differences += [d for found in health.values() for d in found]
    if not repair:
        report.remaining = list(report.differences)
        return report

    for claim_id, found in health.items():
        kinds = {d.kind for d in found}
        if claim_id in report.broken and rc.WORKFLOW_NOT_COMPLETED in kinds:
            if await workflow_health.mark(pool, claim_id, report.broken[claim_id]):
                report.marked.append(claim_id)
        elif rc.WORKFLOW_MARK_STALE in kinds and await workflow_health.clear(pool, claim_id):
            report.unmarked.append(claim_id)
    health_after = await _health_differences(pool, report.broken, listed, full=since is None)

    for claim_id, found in diffs.items():
        truth = truths.get(claim_id)
        if truth is None:
            continue
        try:
            await r.repair(claim_id, truth, found)
        except (RPCError, WorkflowUpdateFailedError, asyncpg.PostgresError, OSError) as exc:
            report.repair_errors[claim_id] = f"{type(exc).__name__}: {exc}"
            log.warning("reconcile_repair_failed", claim_id=claim_id, error=str(exc))
    recheck = {c: claims[c] for c in diffs if c in claims}
    _, after = await r.check(recheck) if recheck else ({}, {})
    if after and settle > 0:
        await asyncio.sleep(settle)
        _, after = await r.check({c: claims[c] for c in after})
    report.remaining = [d for found in after.values() for d in found]
    report.remaining += [d for c, found in diffs.items() if c not in claims for d in found]
    report.remaining += [d for found in health_after.values() for d in found]
    report.repaired = sorted(
        {c for c in diffs if c in claims and c not in after}
        | {c for c in health if c not in health_after}
    )
    return report


async def _health_differences(
    pool: asyncpg.Pool, broken: dict[str, BrokenWorkflow], listed: set[str], *, full: bool
) -> dict[str, list[rc.Difference]]:
    """Stopped workflows whose claim row is not marked so; with `full` (every claim was
    listed), also marks on listed claims whose workflow has not stopped."""
    marks = await workflow_health.marked(pool, None if full else list(broken))
    rows = await workflow_health.existing(pool, list(broken))
    out: dict[str, list[rc.Difference]] = {}
    for claim_id, b in broken.items():
        if claim_id not in rows:
            detail = f"{b.message()}; no claim row to mark"
        elif marks.get(claim_id) != b:
            detail = f"{b.message()}; the read model does not mark it"
        else:
            continue
        out[claim_id] = [rc.Difference(claim_id, rc.WORKFLOW_NOT_COMPLETED, detail)]
    if full:
        for claim_id, m in marks.items():
            if claim_id in listed and claim_id not in broken:
                out[claim_id] = [
                    rc.Difference(
                        claim_id,
                        rc.WORKFLOW_MARK_STALE,
                        f"marked {m.status.value}, but its workflow has not stopped",
                    )
                ]
    return out


async def _workflow_exists(client: Client, workflow_id: str, timeout: timedelta) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe(rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _is_running(wf: WorkflowExecution) -> bool:
    return wf.status is None or wf.status == WorkflowExecutionStatus.RUNNING


async def run_reconcile(
    temporal_address: str | None,
    dsn: str,
    *,
    repair: bool,
    since: datetime | None,
    task_queue: str | None,
    settle: float,
    settings: Any = None,
) -> ReconcileReport:
    """What `claimflow reconcile` runs: connect (with `settings`' namespace and payload keys;
    default: the environment's), reconcile, close."""
    from claimflow.settings import get_settings
    from claimflow.temporal import connect
    from store.db import create_pool

    client = await connect(settings or get_settings(), temporal_address)
    pool = await create_pool(dsn, max_size=4)
    try:
        return await reconcile(
            client, pool, repair=repair, since=since, task_queue=task_queue, settle=settle
        )
    finally:
        await pool.close()


def add_parser(sub: Any) -> None:
    """`claimflow reconcile [--repair] [--since ISO] [--task-queue Q] [--settle S]`."""
    rec = sub.add_parser(
        "reconcile",
        help="check that the read model matches the claim workflows exactly; --repair fixes it",
    )
    rec.add_argument(
        "--repair", action="store_true", help="rewrite what differs from the workflows"
    )
    rec.add_argument(
        "--since",
        default=None,
        help="only claims running, or closed since this ISO 8601 time (UTC unless zoned)",
    )
    rec.add_argument(
        "--task-queue", default=None, help="only claims on this task queue (default: all)"
    )
    rec.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait before looking again at a claim that differs (default 2)",
    )


def command(settings: Any, args: Any) -> None:
    """Prints the summary; exits 1 while differences remain."""
    import sys

    for value, name in ((settings.temporal_address, "TEMPORAL_ADDRESS"),
                        (settings.database_url, "DATABASE_URL")):  # fmt: skip
        if not value:
            raise SystemExit(f"{name} is not set")
    report = asyncio.run(
        run_reconcile(
            settings.temporal_address,
            settings.database_url,
            repair=args.repair,
            since=parse_since(args.since) if args.since else None,
            task_queue=args.task_queue,
            settle=args.settle,
            settings=settings,
        )
    )
    sys.stdout.write(report.summary(args.repair))
    sys.stdout.flush()
    if report.exit_code:
        raise SystemExit(report.exit_code)


def parse_since(text: str) -> datetime:
    """ISO 8601; without a zone it is UTC."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)
