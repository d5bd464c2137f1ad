"""A claim past its history budget continues as new and loses nothing.

One claim, under a budget of 150 events a run, takes two thousand notes (many at once),
supplemental-document loops, a long wait on the insurer with its statutory follow-ups, and
still completes its lifecycle. Every note, task, timeline entry and nudge is there exactly
once, nothing answered 5xx, and reconcile finds no difference.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.reconcile import reconcile
from claimflow.reference_case import ReferenceCase
from claimflow.settings import Settings
from domain.policy import HistoryBudget
from tests.support.claims import add_agent, bearer

NOTES = 2000
AT_ONCE = 12
LOOPS = 3


@pytest.fixture
async def http(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool, worker: None, clean_db: None
) -> AsyncIterator[httpx.AsyncClient]:
    tight = settings.model_copy(
        update={
            "history_budget": HistoryBudget(events=150),
            "statutory": {"decision_within": "PT6S", "payment_within": "P10D", "warn_before": "PT3S"},
        }
    )
    app = create_app(tight, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://claimflow.test",
        timeout=60,
        headers=bearer(settings),
    ) as client:
        yield client


async def _runs(client: Client, claim_id: str) -> list[WorkflowExecutionStatus | None]:
    return [wf.status async for wf in client.list_workflows(f"WorkflowId = '{claim_id}'")]


async def test_a_claim_past_its_budget_continues_as_new_and_loses_nothing(
    http: httpx.AsyncClient, temporal_client: Client, pool: asyncpg.Pool
):
    started = datetime.now(UTC)
    statuses: Counter[int] = Counter()
    await add_agent(http, "xiao.zheng", "Beijing")
    case = ReferenceCase(http)
    for step in (case.return_visit_opens_case, case.xiao_gao_triages, case.xiao_zheng_accepts):
        await step()
    claim_id = case.claim_id

    # Two thousand notes, twelve at a time, while the agent gathers.
    gate = asyncio.Semaphore(AT_ONCE)

    async def note(n: int) -> None:
        async with gate:
            r = await http.post(
                f"/claims/{claim_id}/notes",
                json={"author": "xiao.gao", "text": f"note {n}: " + "王先生的病历" * 50},
            )
            statuses[r.status_code] += 1
            assert r.status_code == 200, r.text

    await asyncio.gather(*(note(n) for n in range(NOTES)))
    assert statuses == {200: NOTES}

    for step in (case.home_visit, case.hospital_trip_and_submit, case.xiao_gao_verifies,
                 case.wang_confirms_filing, case.xiao_gao_files,
                 case.xiao_zheng_explains_expectations):
        await step()

    # The insurer asks for documents again, several times; the agent gathers, Xiao Gao verifies.
    for loop in range(LOOPS):
        await case.complete(
            "record_insurer_response", "xiao.gao",
            decision="supplemental_documents_requested", requested_documents=["medical_record"],
        )
        await case.complete(
            "gather_documents", "xiao.zheng",
            items=[{"code": "medical_record", "status": "collected", "note": f"copy {loop}"}],
        )
        await case.complete("verify_documents", "xiao.gao", complete=True)
        for n in range(30):  # and the claim keeps receiving notes
            await note(NOTES + loop * 30 + n)

    # A long wait on the insurer: the decision clock runs out, the consultant follows up.
    async def follow_ups() -> list[dict]:
        r = await http.get("/tasks", params={"claim_id": claim_id, "status": "open"})
        return [t for t in r.json()["items"] if t["kind"] == "follow_up_insurer"]

    for _ in range(100):
        if len(await follow_ups()) == 2:
            break
        await asyncio.sleep(0.2)
    found = await follow_ups()
    assert sorted(t["data"]["when"] for t in found) == ["near", "past"]
    for task in found:
        r = await http.post(
            f"/tasks/{task['task_id']}/complete",
            json={"completed_by": "xiao.gao",
                  "outcome": {"kind": "follow_up_insurer", "note": "Called the insurer."}},
        )
        assert r.status_code == 200, r.text
    case.open_tasks = []  # ask the read model for the review task

    await case.insurer_pays()
    done = await case.xiao_zheng_explains_payout()
    assert (done["status"], done["closure"]) == ("closed", "paid_and_explained")

    # It continued as new, more than once, under one workflow id.
    runs = await _runs(temporal_client, claim_id)
    assert runs.count(WorkflowExecutionStatus.CONTINUED_AS_NEW) >= 3, runs
    assert runs.count(WorkflowExecutionStatus.COMPLETED) == 1, runs

    # Every note exactly once.
    total_notes = NOTES + LOOPS * 30
    texts = await pool.fetch(
        "SELECT details->>'text' AS t FROM timeline WHERE claim_id=$1 AND action='note_added'",
        claim_id,
    )
    numbers = Counter(int(r["t"].split(":")[0].removeprefix("note ")) for r in texts)
    assert sorted(numbers) == list(range(total_notes)) and set(numbers.values()) == {1}

    # The timeline: every entry once, no gap, up to the claim's version.
    seqs = [r["seq"] for r in await pool.fetch(
        "SELECT seq FROM timeline WHERE claim_id=$1 ORDER BY seq", claim_id)]
    version = await pool.fetchval("SELECT version FROM claims WHERE claim_id=$1", claim_id)
    assert seqs == list(range(1, version + 1))
    continued = await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE claim_id=$1 AND action='run_continued'", claim_id
    )
    assert continued == runs.count(WorkflowExecutionStatus.CONTINUED_AS_NEW)

    # Every task once, numbered without a gap, none left open, each opened once.
    tasks = await pool.fetch(
        "SELECT task_id, kind, status FROM tasks WHERE claim_id=$1", claim_id
    )
    numbers = sorted(int(t["task_id"].rpartition("-T")[2]) for t in tasks)
    assert numbers == list(range(1, len(tasks) + 1))
    assert {t["status"] for t in tasks} <= {"completed", "cancelled"}
    kinds = Counter(t["kind"] for t in tasks)
    assert kinds["gather_documents"] == 1 + LOOPS and kinds["verify_documents"] == 1 + LOOPS
    assert kinds["follow_up_insurer"] == 2 and kinds["triage"] == 1
    opened = await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE claim_id=$1 AND action='task_opened'", claim_id
    )
    assert opened == len(tasks)

    # Each statutory nudge once.
    statutory = await pool.fetch(
        "SELECT notification_id FROM notifications WHERE claim_id=$1 AND kind='statutory'",
        claim_id,
    )
    assert sorted(r["notification_id"].rsplit("/", 1)[1] for r in statutory) == ["near", "past"]

    # The read model agrees with the workflow.
    report = await reconcile(temporal_client, pool, settle=0.5, since=started)
    mine = [d for d in report.differences if d.claim_id == claim_id]
    assert mine == [], mine

    # And the closed claim reads whole from PostgreSQL, with its latest notes.
    closed = (await http.get(f"/claims/{claim_id}")).json()
    assert closed["closure"] == "paid_and_explained" and len(closed["notes"]) == 100
    assert closed["notes"][-1]["text"].startswith(f"note {total_notes - 1}:")
