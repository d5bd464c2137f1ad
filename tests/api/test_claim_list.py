"""The claim list answers slim items read from the claims table's columns and the open task
rows (not the jsonb snapshot), under the one claim query that saved views store too."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from tests.api.test_manager_view import NOW, Row, TaskRow, insert_claim


async def test_list_items_come_from_the_columns(api: httpx.AsyncClient, pool):
    await insert_claim(
        pool,
        Row(
            "CLM-L01",
            stage="document_gathering",
            field_agent="xiao.zheng",
            stalled=True,
            tasks=[
                TaskRow(kind="gather_documents", due_at=NOW + timedelta(days=2)),
                TaskRow(kind="verify_documents", due_at=NOW - timedelta(hours=1)),
                TaskRow(kind="triage", status="completed", completed_at=NOW),
            ],
        ),
    )
    # The snapshot is not what the list reads: an empty one changes nothing in the list.
    await pool.execute("UPDATE claims SET snapshot = '{}'::jsonb")
    page = (await api.get("/claims")).json()
    assert page["total"] == 1
    [item] = page["items"]
    assert item["claim_id"] == "CLM-L01"
    assert (item["stage"], item["status"]) == ("document_gathering", "open")
    assert item["policyholder_name"] == "Mr. Wang" and item["policy_number"] == "P-2019-000123"
    assert (item["city"], item["claim_type"]) == ("Beijing", "medical_reimbursement")
    assert (item["consultant"], item["field_agent"]) == ("xiao.gao", "xiao.zheng")
    assert item["stalled"] is True and item["overdue"] is True
    # Open tasks only, soonest due first, each saying whether it is late.
    assert [(t["kind"], t["overdue"]) for t in item["open_tasks"]] == [
        ("verify_documents", True),
        ("gather_documents", False),
    ]
    assert not {"opening", "snapshot", "tasks", "checklist"} & set(item)


async def test_unknown_query_parameters_are_refused(api: httpx.AsyncClient):
    r = await api.get("/claims", params={"stagee": "triage"})
    assert r.status_code == 422, r.text


async def test_a_saved_view_from_an_older_version_still_runs(api: httpx.AsyncClient, pool):
    await insert_claim(pool, Row("CLM-L02", city="Beijing"))
    await insert_claim(pool, Row("CLM-L03", city="Xi'an"))
    # Saved by a version that had a filter this one no longer knows.
    view_id, team = f"VIEW-old-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO saved_views (view_id, team, name, filters, created_by)"
        " VALUES ($1, $2, 'old one', $3, 'manager.zhao')",
        view_id,
        team,
        {"city": "Beijing", "retired_filter": True},
    )
    try:
        view = await api.get(f"/views/{view_id}")
        assert view.status_code == 200, view.text
        assert view.json()["filters"]["city"] == "Beijing"
        ran = await api.get(f"/views/{view_id}/claims")
        assert ran.status_code == 200, ran.text
        assert [c["claim_id"] for c in ran.json()["items"]] == ["CLM-L02"]
        listed = await api.get("/views", params={"team": team})
        assert [v["view_id"] for v in listed.json()["items"]] == [view_id]
    finally:
        await pool.execute("DELETE FROM saved_views WHERE view_id = $1", view_id)
