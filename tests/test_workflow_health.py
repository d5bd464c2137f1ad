"""A claim is never shown open when its workflow is not running (issue 10, item 8).

Real Temporal, real PostgreSQL: a claim's workflow is terminated (as Temporal does past the
history limit); the health check finds it from visibility, marks its row with the status and
the reason, the manager's list finds it with `broken=true`, GET shows it, reconcile reports it
and `--repair` marks it. Running and completed claims are never marked; only the latest run
of a workflow id counts.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from claimflow.health import (
    check_workflow_health,
    find_broken,
    latest_stop,
    watching_workflow_health,
)
from claimflow.reconcile import reconcile
from claimflow.settings import Settings
from domain.models import BrokenWorkflow
from domain.vocabulary import WorkflowStop
from store import reconcile as rc
from store import workflow_health
from tests.support.claims import eventually, open_claim

HISTORY_LIMIT = "Workflow history size exceeds limit."


async def mark_row(pool: asyncpg.Pool, claim_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT status, stage, workflow_status, workflow_failure, workflow_failed_at,"
        " snapshot->'broken_workflow' AS in_snapshot FROM claims WHERE claim_id = $1",
        claim_id,
    )
    assert row is not None
    return dict(row)


async def health(client: Client, pool: asyncpg.Pool, settings: Settings, **kw: Any):
    return await check_workflow_health(
        client, pool, task_queue=settings.temporal_task_queue, **kw
    )


async def terminated(client: Client, settings: Settings, claim_id: str) -> Any:
    """Wait until visibility lists the claim among the stopped ones."""

    async def listed() -> Any:
        found = await find_broken(client, task_queue=settings.temporal_task_queue)
        return found.get(claim_id)

    return await eventually(listed, timeout=15.0)


async def test_a_terminated_claim_is_marked_listed_shown_and_explained(
    api: httpx.AsyncClient, temporal_client: Client, pool: asyncpg.Pool, settings: Settings
):
    running = (await open_claim(api))["claim_id"]
    withdrawn = (await open_claim(api))["claim_id"]
    broken = (await open_claim(api))["claim_id"]
    r = await api.post(
        f"/claims/{withdrawn}/withdraw",
        json={"recorded_by": "return-visit/li", "reason": "the family decided"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"

    before = datetime.now(UTC)
    await temporal_client.get_workflow_handle(broken).terminate(reason=HISTORY_LIMIT)
    await terminated(temporal_client, settings, broken)

    report = await health(temporal_client, pool, settings)
    assert broken in report.broken and broken in report.marked
    assert running not in report.broken and withdrawn not in report.broken
    row = await mark_row(pool, broken)
    assert row["workflow_status"] == "terminated"
    assert row["workflow_failure"] == HISTORY_LIMIT
    assert before - timedelta(seconds=5) <= row["workflow_failed_at"] <= datetime.now(UTC)
    # The claim's lifecycle is left as the workflow last projected it.
    assert (row["status"], row["stage"]) == ("open", "triage")
    assert row["in_snapshot"]["status"] == "terminated"
    for other in (running, withdrawn):
        assert (await mark_row(pool, other))["workflow_status"] is None
        assert (await mark_row(pool, other))["in_snapshot"] is None

    # Idempotent: a second check finds it again and changes nothing.
    again = await health(temporal_client, pool, settings)
    assert broken in again.broken and again.marked == [] and again.cleared == []
    assert await mark_row(pool, broken) == row

    # The manager's list: broken=true finds it, with how and why; broken=false the others.
    r = await api.get("/claims", params={"broken": "true"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [c["claim_id"] for c in page["items"]] == [broken] and page["total"] == 1
    shown = page["items"][0]["broken_workflow"]
    assert (shown["status"], shown["reason"]) == ("terminated", HISTORY_LIMIT)
    r = await api.get("/claims", params={"broken": "false"})
    assert {c["claim_id"] for c in r.json()["items"]} == {running, withdrawn}
    assert all(c["broken_workflow"] is None for c in r.json()["items"])
    r = await api.get("/claims", params={"broken": "true", "status": "open", "q": "wang"})
    assert [c["claim_id"] for c in r.json()["items"]] == [broken]

    # GET answers from the read model once the workflow no longer does: the mark shows.
    r = await api.get(f"/claims/{broken}")
    assert r.status_code == 200, r.text
    assert r.json()["broken_workflow"]["status"] == "terminated"
    assert (await api.get(f"/claims/{running}")).json()["broken_workflow"] is None

    # What an action on it is to answer (api/claims_client.py calls this on NOT_FOUND).
    assert await workflow_health.closed_claim_message(pool, broken) == (
        f"the claim's workflow was terminated: {HISTORY_LIMIT}"
    )
    assert await workflow_health.closed_claim_message(pool, withdrawn) == "the claim is closed"
    r = await api.post(f"/claims/{broken}/notes", json={"author": "xiao.gao", "text": "hello"})
    assert r.status_code == 409, r.text
    assert HISTORY_LIMIT in r.json()["detail"], r.text


async def test_reconcile_reports_a_stopped_claim_and_repair_marks_it(
    api: httpx.AsyncClient, temporal_client: Client, pool: asyncpg.Pool, settings: Settings
):
    claim_id = (await open_claim(api))["claim_id"]
    await temporal_client.get_workflow_handle(claim_id).terminate(reason="operator: stuck")
    await terminated(temporal_client, settings, claim_id)
    queue = settings.temporal_task_queue

    def mine(diffs: list[rc.Difference]) -> list[tuple[str, str]]:
        return [(d.kind, d.detail) for d in diffs if d.claim_id == claim_id]

    report = await reconcile(temporal_client, pool, task_queue=queue, settle=0)
    assert report.broken[claim_id].status is WorkflowStop.TERMINATED
    assert mine(report.differences) == [
        (
            rc.WORKFLOW_NOT_COMPLETED,
            "the claim's workflow was terminated: operator: stuck;"
            " the read model does not mark it",
        )
    ]
    assert mine(report.remaining) == mine(report.differences)
    text = report.summary(repair=False)
    assert f"{claim_id} terminated at " in text and "operator: stuck" in text
    assert (await mark_row(pool, claim_id))["workflow_status"] is None  # not without --repair

    repaired = await reconcile(temporal_client, pool, task_queue=queue, settle=0, repair=True)
    assert claim_id in repaired.marked and claim_id in repaired.repaired
    assert mine(repaired.remaining) == []
    row = await mark_row(pool, claim_id)
    assert (row["workflow_status"], row["workflow_failure"]) == ("terminated", "operator: stuck")

    # Marked, it is still listed as stopped on every run, but no longer a difference.
    later = await reconcile(temporal_client, pool, task_queue=queue, settle=0)
    assert claim_id in later.broken and mine(later.differences) == []
    assert "workflows stopped: " in later.summary(repair=False)

    # A mark on a claim whose workflow runs is stale: reported, and --repair removes it.
    running = (await open_claim(api))["claim_id"]
    fake = BrokenWorkflow(status=WorkflowStop.FAILED, reason="not so", at=datetime.now(UTC))
    assert await workflow_health.mark(pool, running, fake)
    stale = await reconcile(temporal_client, pool, task_queue=queue, settle=0)
    assert [d.kind for d in stale.differences if d.claim_id == running] == [
        rc.WORKFLOW_MARK_STALE
    ]
    fixed = await reconcile(temporal_client, pool, task_queue=queue, settle=0, repair=True)
    assert running in fixed.unmarked
    assert [d for d in fixed.remaining if d.claim_id == running] == []
    assert (await mark_row(pool, running))["workflow_status"] is None


# --- the latest run decides: a tiny workflow typed ClaimCase on a queue of its own -------


@workflow.defn(name="ClaimCase")
class TinyClaim:
    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "fail":
            raise ApplicationError(
                "the policy could not be read\npolicyholder: Wang Jianguo, ID 110101...",
                type="BadPolicy",
                non_retryable=True,
            )
        if mode == "continue":
            workflow.continue_as_new("wait")
        await workflow.wait_condition(lambda: False)
        return "never"


async def insert_row(pool: asyncpg.Pool, api: httpx.AsyncClient, claim_id: str) -> None:
    """A read-model row for a tiny workflow: a real claim's row, under another id."""
    real = (await open_claim(api))["claim_id"]
    await pool.execute(
        "INSERT INTO claims (claim_id, stage, status, policyholder_name, policy_number, city,"
        " source, claim_type, consultant, created_at, updated_at, version, snapshot)"
        " SELECT $2, stage, status, policyholder_name, policy_number, city, source,"
        " claim_type, consultant, created_at, updated_at, version,"
        " jsonb_set(snapshot, '{claim_id}', to_jsonb($2::text)) FROM claims WHERE claim_id = $1",
        real,
        claim_id,
    )


async def test_only_the_latest_run_counts_and_failures_keep_their_first_line(
    api: httpx.AsyncClient, temporal_client: Client, pool: asyncpg.Pool
):
    queue = f"health-{uuid.uuid4().hex[:8]}"
    ids = {m: f"CLM-HEALTH-{m.upper()}-{uuid.uuid4().hex[:6]}" for m in ("fail", "continue", "reset")}
    for claim_id in ids.values():
        await insert_row(pool, api, claim_id)

    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[TinyClaim],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        start = temporal_client.start_workflow
        await start(TinyClaim.run, "fail", id=ids["fail"], task_queue=queue)
        chained = await start(TinyClaim.run, "continue", id=ids["continue"], task_queue=queue)
        first = await start(
            TinyClaim.run,
            "wait",
            id=ids["reset"],
            task_queue=queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        await first.terminate(reason="reset by an operator")

        async def stopped() -> dict[str, BrokenWorkflow] | None:
            found = await find_broken(temporal_client, task_queue=queue)
            return found if {ids["fail"], ids["reset"]} <= found.keys() else None

        found = await eventually(stopped, timeout=15.0)
        # Failed: the failure's type and first line only (no personal data past it).
        assert found[ids["fail"]].status is WorkflowStop.FAILED
        assert found[ids["fail"]].reason == "BadPolicy: the policy could not be read"
        # A run that continued as new is not broken: its successor runs.
        assert ids["continue"] not in found
        assert await latest_stop(temporal_client, ids["continue"]) is None
        assert (await chained.describe()).run_id != chained.result_run_id

        report = await check_workflow_health(temporal_client, pool, task_queue=queue)
        assert set(report.marked) == {ids["fail"], ids["reset"]}
        row = await mark_row(pool, ids["fail"])
        assert (row["workflow_status"], row["workflow_failure"]) == (
            "failed",
            "BadPolicy: the policy could not be read",
        )
        assert (await mark_row(pool, ids["continue"]))["workflow_status"] is None

        # The same id runs again (as after a reset): the terminated run no longer counts,
        # and the next full check removes the mark.
        await start(
            TinyClaim.run,
            "wait",
            id=ids["reset"],
            task_queue=queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        assert await latest_stop(temporal_client, ids["reset"]) is None
        report = await check_workflow_health(temporal_client, pool, task_queue=queue)
        assert ids["reset"] not in report.broken and report.cleared == [ids["reset"]]
        assert (await mark_row(pool, ids["reset"]))["workflow_status"] is None
        assert ids["fail"] in report.broken and report.marked == []

        # The worker's watch marks what stops while it runs.
        await temporal_client.get_workflow_handle(ids["continue"]).terminate(reason="late")

        async def watched() -> bool:
            return (await mark_row(pool, ids["continue"]))["workflow_status"] == "terminated"

        async with watching_workflow_health(
            temporal_client, pool, timedelta(milliseconds=200), task_queue=queue
        ) as task:
            assert task is not None
            await eventually(watched, timeout=15.0)
        assert task.done()

        with contextlib.suppress(RPCError):
            await temporal_client.get_workflow_handle(ids["reset"]).terminate(reason="done")
