"""Workflow changes must not break running claims: recorded histories replay cleanly.

The histories under tests/histories/ were recorded from real runs of this suite: those named
`*.claim_case*` by the workflow type "ClaimCase" (workflows/legacy/, frozen), the others by
"Claim", including a run that continued as new and the run after it. A change to
workflow code that would make a running claim fail on replay fails here; guard such changes
with `workflow.patched(...)`. To record new histories (after a deliberate, patched change):

    CLAIMFLOW_RECORD_HISTORIES=1 make test
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.worker import Replayer

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.reference_case import ReferenceCase
from claimflow.settings import Settings
from claimflow.temporal import data_converter
from domain.policy import HistoryBudget
from tests.support.claims import TEST_PAYLOAD_KEY, bearer
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("CLAIMFLOW_RECORD_HISTORIES") == "1"


def _replayer() -> Replayer:
    """Decrypts with the suite's payload key; older histories were recorded in plaintext."""
    settings = Settings(payload_keys=TEST_PAYLOAD_KEY)
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))


async def _keep(
    client: Client, workflow_id: str, name: str, run_id: str | None = None
) -> WorkflowHistory:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(
            json.dumps(json.loads(history.to_json()), indent=1) + "\n", encoding="utf-8"
        )
    return history


async def test_recorded_histories_replay():
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "no recorded histories to replay"
    for f in files:
        history = WorkflowHistory.from_json(f.stem, f.read_text(encoding="utf-8"))
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{f.name}: {result.replay_failure}"


async def test_todays_runs_replay(
    api: httpx.AsyncClient,
    temporal_client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
):
    """Histories of this run (a closed claim, and one still waiting on the insurer) replay;
    with CLAIMFLOW_RECORD_HISTORIES=1 they are kept for later runs."""
    closed = ReferenceCase(api)
    await closed.run()

    waiting = ReferenceCase(api)
    await waiting.return_visit_opens_case()
    await waiting.xiao_gao_triages()
    await waiting.xiao_zheng_accepts()
    await waiting.home_visit()
    await waiting.hospital_trip_and_submit()
    await waiting.xiao_gao_verifies()
    await waiting.wang_confirms_filing()
    await waiting.xiao_gao_files()
    await waiting.xiao_zheng_explains_expectations()
    await waiting.insurer_investigates()
    await api.post(
        f"/claims/{waiting.claim_id}/notes",
        json={"author": "xiao.gao", "text": "Insurer expects a decision next week."},
    )

    # A claim with many notes under a small budget: a run that ended continuing as new, and
    # the run it handed over to (which starts from what was carried).
    app = create_app(
        settings.model_copy(update={"history_budget": HistoryBudget(events=100)}),
        ClaimsClient(temporal_client, pool, settings.temporal_task_queue),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://claimflow.test",
        timeout=30, headers=bearer(settings),
    ) as small:  # fmt: skip
        chained = ReferenceCase(small)
        await chained.return_visit_opens_case()
        for n in range(40):
            r = await small.post(
                f"/claims/{chained.claim_id}/notes", json={"author": "xiao.gao", "text": f"n{n}"}
            )
            assert r.status_code == 200, r.text
        await chained.xiao_gao_triages()
    runs = [wf async for wf in temporal_client.list_workflows(f"WorkflowId = '{chained.claim_id}'")]
    first = min(runs, key=lambda wf: wf.start_time)
    assert first.status is WorkflowExecutionStatus.CONTINUED_AS_NEW, [r.status for r in runs]

    for claim_id, name, run_id in (
        (closed.claim_id, "mr_wang_paid", None),
        (waiting.claim_id, "waiting_on_insurer", None),
        (chained.claim_id, "notes_continued_as_new", first.run_id),
        (chained.claim_id, "notes_after_continue_as_new", None),
    ):
        history = await _keep(temporal_client, claim_id, name, run_id)
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{name}: {result.replay_failure}"
