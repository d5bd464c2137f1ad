"""The manager's view through HTTP: claim search, figures and saved views.

Claims are written straight into the read model (driving hundreds of workflows would be
slow); each row carries a valid snapshot built from the domain's ClaimView.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from domain.models import ClaimOpening, ClaimView, Payout
from domain.vocabulary import ClaimStage, ClaimStatus, Closure
from store import claim_list
from store.claim_list import ClaimQuery, ClaimSort, SortOrder
from store.db import create_pool
from store.migrate import migrate
from tests.support.claims import wang_opening

NOW = datetime.now(UTC)
T0 = datetime(2026, 10, 1, tzinfo=UTC)


# --- writing the read model directly ----------------------------------------------------


@dataclass
class Row:
    """One claim as the read model holds it, with the facts the filters look at."""

    claim_id: str
    stage: str = "triage"
    city: str = "Beijing"
    consultant: str = "xiao.gao"
    field_agent: str | None = None
    source: str = "return_visit"
    claim_type: str = "medical_reimbursement"
    stalled: bool = False
    name: str = "Mr. Wang"
    policy_number: str = "P-2019-000123"
    created_at: datetime = T0
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    awarded: Decimal | None = None
    tasks: list[TaskRow] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "closed" if self.stage == "closed" else "open"

    @property
    def updated(self) -> datetime:
        return self.updated_at or self.created_at

    @property
    def overdue(self) -> bool:
        return any(t.status == "open" and t.due_at and t.due_at < NOW for t in self.tasks)


@dataclass
class TaskRow:
    kind: str = "triage"
    status: str = "open"
    created_at: datetime = T0
    due_at: datetime | None = None
    completed_at: datetime | None = None


async def insert_claim(pool: asyncpg.Pool, c: Row) -> None:
    opening = ClaimOpening.model_validate(
        wang_opening(
            policyholder={"name": c.name, "city": c.city, "age": 78, "needs": ["elderly"]},
            policy={
                "policy_number": c.policy_number,
                "insurer": "Example Life",
                "sum_insured": "200000.00",
            },
            incident={
                "claim_type": c.claim_type,
                "description": "Cerebral infarction, hospitalised, never claimed",
                "occurred_on": "2021-03-14",
            },
            source=c.source,
            consultant=c.consultant,
        )
    )
    closure = Closure.PAID_AND_EXPLAINED if c.status == "closed" else None
    view = ClaimView(
        claim_id=c.claim_id,
        stage=ClaimStage(c.stage),
        status=ClaimStatus(c.status),
        closure=closure,
        opening=opening,
        field_agent=c.field_agent,
        payout=Payout(awarded=c.awarded),
        stalled_since=c.updated if c.stalled else None,
        created_at=c.created_at,
        updated_at=c.updated,
        closed_at=c.closed_at,
        version=1,
    )
    await pool.execute(
        """
        INSERT INTO claims (claim_id, stage, status, closure, policyholder_name, policy_number,
            city, source, claim_type, consultant, created_at, updated_at, closed_at, version,
            snapshot, field_agent, awarded_amount, stalled, stalled_since)
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,1,$14,$15,$16,$17,$18)
        """,
        c.claim_id,
        c.stage,
        c.status,
        closure.value if closure else None,
        c.name,
        c.policy_number,
        c.city,
        c.source,
        c.claim_type,
        c.consultant,
        c.created_at,
        c.updated,
        c.closed_at,
        view.model_dump(mode="json"),
        c.field_agent,
        c.awarded,
        c.stalled,
        view.stalled_since,
    )
    for n, t in enumerate(c.tasks, start=1):
        await pool.execute(
            """
            INSERT INTO tasks (task_id, claim_id, kind, role, assignee, status, created_at,
                due_at, completed_at, completed_by, version)
            VALUES ($1,$2,$3,'consultant','xiao.gao',$4,$5,$6,$7,$8,1)
            """,
            f"{c.claim_id}-T{n}",
            c.claim_id,
            t.kind,
            t.status,
            t.created_at,
            t.due_at,
            t.completed_at,
            "xiao.gao" if t.status == "completed" else None,
        )


async def insert_all(pool: asyncpg.Pool, rows: list[Row]) -> None:
    for r in rows:
        await insert_claim(pool, r)


def H(hours: float) -> datetime:  # noqa: N802 - reads as a time on the test's clock
    return T0 + timedelta(hours=hours)


def overdue_task() -> TaskRow:
    return TaskRow(due_at=NOW - timedelta(hours=3))


def mixed() -> list[Row]:
    """Every filter splits this set; some claims share a creation time (ties by claim_id),
    and the update order differs from the creation order."""
    past_due_but_done = TaskRow(
        status="completed", due_at=NOW - timedelta(days=2), completed_at=NOW - timedelta(days=1)
    )
    return [
        Row("CLM-A01", created_at=H(1), updated_at=H(50), tasks=[overdue_task()]),
        Row(
            "CLM-A02",
            stage="dispatch",
            city="Wuhan",
            source="hotline",
            created_at=H(2),
            updated_at=H(3),
            tasks=[TaskRow(due_at=NOW + timedelta(days=2))],
        ),
        Row(
            "CLM-A03",
            stage="closed",
            closed_at=H(40),
            created_at=H(3),
            updated_at=H(40),
            name="WANG Jianguo",
            policy_number="P-2020-777001",
            tasks=[past_due_but_done],
        ),
        Row(
            "CLM-A04",
            stage="document_gathering",
            field_agent="xiao.zheng",
            stalled=True,
            created_at=H(4),
            updated_at=H(5),
            claim_type="critical_illness",
            tasks=[overdue_task(), TaskRow(status="cancelled", due_at=NOW - timedelta(days=9))],
        ),
        Row(
            "CLM-A05",
            stage="document_gathering",
            field_agent="xiao.zheng",
            city="Shenzhen",
            consultant="xiao.li",
            created_at=H(4),
            updated_at=H(30),
            name="Ms. Li Na",
        ),
        Row(
            "CLM-A06",
            stage="filing",
            city="Xi'an",
            source="self_report",
            stalled=True,
            created_at=H(4),
            updated_at=H(6),
            name="Mrs. Wangari",
            policy_number="X_1%",
            tasks=[TaskRow(status="cancelled", due_at=NOW - timedelta(days=1))],
        ),
        Row(
            "CLM-A07",
            stage="closed",
            city="Wuhan",
            consultant="xiao.li",
            created_at=H(10),
            updated_at=H(20),
            closed_at=H(20),
            claim_type="accident",
            policy_number="Q-777",
        ),
        Row(
            "CLM-A08",
            stage="insurer_review",
            source="hotline",
            created_at=H(11),
            updated_at=H(60),
            name="Zhang Wei",
            policy_number="P-2019-000124",
            tasks=[overdue_task(), overdue_task()],
        ),
        Row(
            "CLM-A09",
            stage="triage",
            city="Shenzhen",
            source="self_report",
            created_at=H(12),
            updated_at=H(12),
            stalled=True,
            name="zhang san",
            claim_type="critical_illness",
        ),
        Row(
            "CLM-A10",
            stage="closed",
            consultant="xiao.li",
            field_agent="xiao.zheng",
            created_at=H(13),
            updated_at=H(100),
            closed_at=H(100),
            name="Chen 100%",
        ),
        Row(
            "CLM-A11",
            stage="dispatch",
            city="Beijing",
            created_at=H(14),
            updated_at=H(1.5),
            claim_type="accident",
            tasks=[past_due_but_done, overdue_task()],
        ),
        Row(
            "CLM-A12",
            stage="triage",
            city="Wuhan",
            source="hotline",
            created_at=H(14),
            updated_at=H(14),
            name="Mr. Wang",
        ),
    ]


def oracle(
    rows: list[Row], pred: Callable[[Row], bool], sort: str = "created_at", order: str = "desc"
) -> list[str]:
    """The claims a filter must return, in order: computed here without SQL."""
    key: Callable[[Row], tuple[datetime, str]] = (
        (lambda r: (r.created_at, r.claim_id))
        if sort == "created_at"
        else (lambda r: (r.updated, r.claim_id))
    )
    return [r.claim_id for r in sorted(filter(pred, rows), key=key, reverse=order == "desc")]


async def fetch_all(
    api: httpx.AsyncClient, params: dict[str, Any], limit: int = 200, path: str = "/claims"
) -> tuple[list[str], list[int]]:
    """Every page of a list: the claim ids in order, and `total` as each page told it."""
    ids: list[str] = []
    totals: list[int] = []
    cursor = None
    for _ in range(1000):
        r = await api.get(
            path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        ids += [c["claim_id"] for c in body["items"]]
        totals.append(body["total"])
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, totals
    raise AssertionError("paging did not end")


def iso(t: datetime) -> str:
    return t.isoformat()


# --- search -----------------------------------------------------------------------------

FILTERS: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
    ({}, lambda r: True),
    ({"stage": "document_gathering"}, lambda r: r.stage == "document_gathering"),
    ({"stage": "closed"}, lambda r: r.stage == "closed"),
    ({"status": "open"}, lambda r: r.status == "open"),
    ({"status": "closed"}, lambda r: r.status == "closed"),
    ({"city": "Wuhan"}, lambda r: r.city == "Wuhan"),
    ({"city": "Xi'an"}, lambda r: r.city == "Xi'an"),
    ({"consultant": "xiao.li"}, lambda r: r.consultant == "xiao.li"),
    ({"field_agent": "xiao.zheng"}, lambda r: r.field_agent == "xiao.zheng"),
    ({"source": "hotline"}, lambda r: r.source == "hotline"),
    ({"claim_type": "critical_illness"}, lambda r: r.claim_type == "critical_illness"),
    ({"overdue": "true"}, lambda r: r.overdue),
    ({"overdue": "false"}, lambda r: not r.overdue),
    ({"stalled": "true"}, lambda r: r.stalled),
    ({"stalled": "false"}, lambda r: not r.stalled),
    ({"created_from": iso(H(4))}, lambda r: r.created_at >= H(4)),
    ({"created_to": iso(H(4))}, lambda r: r.created_at < H(4)),
    ({"created_from": iso(H(4)), "created_to": iso(H(12))}, lambda r: H(4) <= r.created_at < H(12)),
    ({"updated_from": "2026-10-02T08:00:00+08:00"}, lambda r: r.updated >= H(24)),
    ({"updated_from": iso(H(5)), "updated_to": iso(H(30))}, lambda r: H(5) <= r.updated < H(30)),
    ({"q": "wang"}, lambda r: "wang" in r.name.lower() or "wang" in r.policy_number.lower()),
    ({"q": "777"}, lambda r: "777" in r.policy_number),
    ({"q": "  ZHANG "}, lambda r: "zhang" in r.name.lower()),
    ({"q": "_1%"}, lambda r: "_1%" in r.policy_number or "_1%" in r.name),
    ({"q": "%"}, lambda r: "%" in r.name or "%" in r.policy_number),
    ({"q": "nobody"}, lambda r: False),
    # combined
    (
        {"city": "Beijing", "stage": "dispatch"},
        lambda r: r.city == "Beijing" and r.stage == "dispatch",
    ),
    (
        {"status": "open", "overdue": "true", "city": "Beijing"},
        lambda r: r.status == "open" and r.overdue and r.city == "Beijing",
    ),
    (
        {"stalled": "true", "q": "wang"},
        lambda r: r.stalled and ("wang" in r.name.lower() or "wang" in r.policy_number.lower()),
    ),
    (
        {
            "source": "hotline",
            "claim_type": "medical_reimbursement",
            "created_from": iso(H(2)),
            "created_to": iso(H(14)),
        },
        lambda r: (
            r.source == "hotline"
            and r.claim_type == "medical_reimbursement"
            and H(2) <= r.created_at < H(14)
        ),
    ),
    (
        {"field_agent": "xiao.zheng", "consultant": "xiao.li", "status": "closed"},
        lambda r: r.field_agent == "xiao.zheng" and r.consultant == "xiao.li" and r.closed_at,
    ),
    (
        {"overdue": "false", "stalled": "false", "updated_to": iso(H(20))},
        lambda r: not r.overdue and not r.stalled and r.updated < H(20),
    ),
]


async def test_each_filter_alone_and_combined_finds_exactly_the_matching_claims(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    rows = mixed()
    await insert_all(pool, rows)
    for params, pred in FILTERS:
        want = oracle(rows, pred)
        ids, totals = await fetch_all(api, params)
        assert ids == want, params
        assert totals == [len(want)], params

    # A few by hand, so the oracle itself is checked.
    assert (await fetch_all(api, {"overdue": "true"}))[0] == [
        "CLM-A11",
        "CLM-A08",
        "CLM-A04",
        "CLM-A01",
    ]
    assert (await fetch_all(api, {"q": "WaNg"}))[0] == [  # all but Li, Zhang x2 and Chen
        "CLM-A12",
        "CLM-A11",
        "CLM-A07",
        "CLM-A06",
        "CLM-A04",
        "CLM-A03",
        "CLM-A02",
        "CLM-A01",
    ]
    assert (await fetch_all(api, {"q": "_1%"}))[0] == ["CLM-A06"]
    assert (await fetch_all(api, {"q": "%"}))[0] == ["CLM-A10", "CLM-A06"]  # 100%, X_1%
    assert (await fetch_all(api, {"q": "_"}))[0] == ["CLM-A06"]
    r = await api.get("/claims", params={"stalled": "true", "city": "Xi'an"})
    page = r.json()
    assert [c["claim_id"] for c in page["items"]] == ["CLM-A06"]
    assert page["items"][0]["policy_number"] == "X_1%"
    assert page["total"] == 1 and page["next_cursor"] is None


async def test_paging_covers_every_claim_once_in_order_for_each_sort(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    rows = mixed()
    await insert_all(pool, rows)
    for sort in ("created_at", "updated_at"):
        for order in ("asc", "desc"):
            want = oracle(rows, lambda r: True, sort, order)
            for limit in (1, 3, 5, 12, 50):
                ids, totals = await fetch_all(api, {"sort": sort, "order": order}, limit=limit)
                assert ids == want, (sort, order, limit)
                assert len(set(ids)) == len(rows)
                assert set(totals) == {len(rows)}
                assert len(totals) == max(1, -(-len(rows) // limit))
            # with a filter too
            pred: Callable[[Row], bool] = lambda r: r.status == "open"  # noqa: E731
            ids, totals = await fetch_all(
                api, {"status": "open", "sort": sort, "order": order}, limit=2
            )
            assert ids == oracle(rows, pred, sort, order)
            assert set(totals) == {len(ids)}

    # By hand: newest created first by default (ties at H(4) and H(14) by claim id), and
    # the update order is another order altogether.
    ids, _ = await fetch_all(api, {}, limit=4)
    assert ids == [f"CLM-A{n:02d}" for n in range(12, 0, -1)]
    asc, _ = await fetch_all(api, {"sort": "updated_at", "order": "asc"}, limit=4)
    assert asc == [f"CLM-A{n:02d}" for n in (11, 2, 4, 6, 9, 12, 7, 5, 3, 1, 8, 10)]


async def test_bad_queries_are_422(api: httpx.AsyncClient, pool: asyncpg.Pool):
    await insert_all(pool, mixed())
    first = (await api.get("/claims", params={"limit": 2})).json()
    cursor = first["next_cursor"]
    assert cursor
    bad: list[dict[str, Any]] = [
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJrZXkiOiAxfQ"},  # base64 JSON, but not ours
        {"cursor": cursor, "sort": "updated_at"},  # another sort
        {"cursor": cursor, "order": "asc"},  # another direction
        {"created_from": "2026-11-08T20:00:00"},  # naive
        {"updated_to": "2026-11-08T20:00:00"},
        {"created_from": iso(H(5)), "created_to": iso(H(4))},  # backwards
        {"sort": "policy_number"},
        {"order": "sideways"},
        {"stage": "limbo"},
        {"overdue": "perhaps"},
        {"colour": "red"},  # unknown filter
        {"q": "   "},
        {"limit": 0},
        {"limit": 201},
    ]
    for params in bad:
        r = await api.get("/claims", params=params)
        assert r.status_code == 422, (params, r.text)
    r = await api.get("/claims", params={"cursor": cursor, "sort": "updated_at"})
    assert "cursor" in r.json()["detail"]
    # The cursor works with the list it came from.
    r = await api.get("/claims", params={"limit": 2, "cursor": cursor})
    assert r.status_code == 200
    assert r.json()["total"] == 12


# --- figures ----------------------------------------------------------------------------


def figures_dataset() -> list[Row]:
    """Hand-checkable: the range is Shanghai 2026-11-01 .. 2026-11-10 inclusive."""

    def done(created: str, hours: float, due_hours: float | None, kind: str = "triage") -> TaskRow:
        start = datetime.fromisoformat(created)
        return TaskRow(
            kind=kind,
            status="completed",
            created_at=start,
            completed_at=start + timedelta(hours=hours),
            due_at=start + timedelta(hours=due_hours) if due_hours is not None else None,
        )

    z = datetime.fromisoformat
    return [
        # 20:00Z on Nov 8 is 04:00 on Nov 9 in Shanghai.
        Row(
            "CLM-F-A",
            stage="triage",
            city="Beijing",
            created_at=z("2026-11-08T20:00:00Z"),
            tasks=[
                done("2026-11-02T00:00:00Z", 1, 2),  # on time, Nov 2
                done("2026-11-03T00:00:00Z", 2, 2),  # exactly on time, Nov 3
                done("2026-11-04T00:00:00Z", 3, 5),  # on time, Nov 4
                TaskRow(due_at=NOW - timedelta(days=1)),
            ],
        ),  # overdue now
        Row(
            "CLM-F-B",
            stage="closed",
            created_at=z("2026-11-02T01:00:00Z"),
            closed_at=z("2026-11-08T03:00:00Z"),
            awarded=Decimal("95000.00"),
            tasks=[
                done("2026-11-08T12:00:00Z", 4, 1),  # late, Nov 9 00:00 Shanghai
                done("2026-11-05T00:00:00Z", 10, 8),
            ],
        ),  # late, Nov 5
        Row(
            "CLM-F-C",
            stage="closed",
            city="Wuhan",
            created_at=z("2026-11-03T10:00:00Z"),
            closed_at=z("2026-11-08T17:00:00Z"),
            awarded=Decimal("1234.56"),  # Nov 9 Shanghai
            tasks=[
                done("2026-11-01T00:00:00Z", 24, None, "file_claim"),  # Nov 2, no SLA
                done("2026-10-29T00:00:00Z", 1, 2),
            ],
        ),  # completed before the range
        Row(
            "CLM-F-D",
            stage="document_gathering",
            city="Wuhan",
            stalled=True,
            created_at=z("2026-10-20T00:00:00Z"),
            tasks=[
                TaskRow(kind="gather_documents", due_at=NOW - timedelta(hours=1)),
                TaskRow(kind="verify_documents", due_at=NOW + timedelta(days=10)),
                TaskRow(status="cancelled", due_at=NOW - timedelta(days=2)),
            ],
        ),
        Row("CLM-F-E", stage="triage", city="Shenzhen", created_at=z("2026-11-05T00:00:00Z")),
        # 16:00Z on Nov 10 is midnight Nov 11 in Shanghai: after the range.
        Row("CLM-F-F", stage="dispatch", city="Beijing", created_at=z("2026-11-10T16:00:00Z")),
        # Closed 23:00 Oct 31 in Shanghai: before the range.
        Row(
            "CLM-F-G",
            stage="closed",
            created_at=z("2026-10-01T00:00:00Z"),
            closed_at=z("2026-10-31T15:00:00Z"),
            awarded=Decimal("500.00"),
        ),
        # Withdrawn: closed in the range with nothing awarded; its stale stalled flag is
        # not a stalled claim any more.
        Row(
            "CLM-F-H",
            stage="closed",
            stalled=True,
            created_at=z("2026-11-06T00:00:00Z"),
            closed_at=z("2026-11-06T08:00:00Z"),
        ),
        # Opened exactly at the start of the range (midnight Nov 1 in Shanghai).
        Row("CLM-F-I", stage="filing", city="Xi'an", created_at=z("2026-10-31T16:00:00Z")),
    ]


async def test_figures_on_a_hand_checked_dataset(api: httpx.AsyncClient, pool: asyncpg.Pool):
    await insert_all(pool, figures_dataset())
    r = await api.get(
        "/figures", params={"from": "2026-11-01T00:00:00+08:00", "to": "2026-11-11T00:00:00+08:00"}
    )
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["from"] == "2026-11-01T00:00:00+08:00"
    assert f["to"] == "2026-11-11T00:00:00+08:00"

    by_stage = {s["stage"]: s["open_claims"] for s in f["open_by_stage"]}
    assert by_stage == {"triage": 2, "document_gathering": 1, "dispatch": 1, "filing": 1}
    by_city = {c["city"]: c["open_claims"] for c in f["open_by_city"]}
    assert by_city == {"Beijing": 2, "Wuhan": 1, "Shenzhen": 1, "Xi'an": 1}
    assert f["overdue_tasks"] == 2
    assert f["stalled_claims"] == 1

    cycle = {c["kind"]: c for c in f["cycle_times"]}
    assert set(cycle) == {"triage", "file_claim"}
    # triage: 1h, 2h, 3h, 4h, 10h -> p50 = 3h; p90 = 4h + 0.6 x (10h - 4h) = 7.6h
    assert cycle["triage"]["completed"] == 5
    assert cycle["triage"]["p50_seconds"] == pytest.approx(3 * 3600)
    assert cycle["triage"]["p90_seconds"] == pytest.approx(7.6 * 3600)
    assert cycle["file_claim"] == {
        "kind": "file_claim",
        "completed": 1,
        "p50_seconds": 86400.0,
        "p90_seconds": 86400.0,
    }
    # Three of the five triage tasks were done by their due time (one exactly at it);
    # the file_claim task had no due time and has no SLA figure.
    assert f["sla"] == [{"kind": "triage", "completed": 5, "on_time": 3, "attainment": 0.6}]

    assert f["payouts"] == {"claims": 2, "amount": "96234.56"}

    days = {d["day"]: d for d in f["days"]}
    assert list(days) == [f"2026-11-{n:02d}" for n in range(1, 11)]
    series = {
        day: (d["claims_opened"], d["claims_closed"], d["tasks_completed"], d["amount_awarded"])
        for day, d in days.items()
    }
    assert series == {
        "2026-11-01": (1, 0, 0, "0.00"),
        "2026-11-02": (1, 0, 2, "0.00"),
        "2026-11-03": (1, 0, 1, "0.00"),
        "2026-11-04": (0, 0, 1, "0.00"),
        "2026-11-05": (1, 0, 1, "0.00"),
        "2026-11-06": (1, 1, 0, "0.00"),
        "2026-11-07": (0, 0, 0, "0.00"),
        "2026-11-08": (0, 1, 0, "95000.00"),
        "2026-11-09": (1, 1, 1, "1234.56"),
        "2026-11-10": (0, 0, 0, "0.00"),
    }

    # The same range written in UTC gives the same figures.
    utc = await api.get(
        "/figures", params={"from": "2026-10-31T16:00:00Z", "to": "2026-11-10T16:00:00Z"}
    )
    assert {k: v for k, v in utc.json().items() if k not in ("from", "to")} == {
        k: v for k, v in f.items() if k not in ("from", "to")
    }


async def test_figures_default_range_and_bad_ranges(api: httpx.AsyncClient):
    r = await api.get("/figures")
    assert r.status_code == 200, r.text
    f = r.json()
    start, end = datetime.fromisoformat(f["from"]), datetime.fromisoformat(f["to"])
    assert end - start == timedelta(days=30)
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=1)
    assert f["payouts"] == {"claims": 0, "amount": "0.00"}
    assert len(f["days"]) in (30, 31)
    for params in (
        {"from": "2026-11-01T00:00:00"},
        {"to": "2026-11-01T00:00:00"},
        {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "yesterday"},
    ):
        assert (await api.get("/figures", params=params)).status_code == 422, params


# --- saved views ------------------------------------------------------------------------


async def test_saved_views_crud_and_running_them(api: httpx.AsyncClient, pool: asyncpg.Pool):
    rows = mixed()
    await insert_all(pool, rows)
    team = f"team-{uuid.uuid4().hex[:8]}"
    other = f"team-{uuid.uuid4().hex[:8]}"
    body = {
        "team": team,
        "name": "Beijing, open, newest update first",
        "filters": {"city": "Beijing", "status": "open", "sort": "updated_at"},
        "created_by": "manager.zhao",
    }
    r = await api.post("/views", json=body)
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["view_id"].startswith("VIEW-")
    assert view["filters"]["city"] == "Beijing"
    assert view["filters"]["sort"] == "updated_at"
    assert view["filters"]["order"] == "desc"

    r = await api.post("/views", json={**body, "filters": {"stalled": True}})
    assert r.status_code == 409, r.text
    r = await api.post("/views", json={**body, "team": other})
    assert r.status_code == 201, r.text
    stalled = (
        await api.post(
            "/views",
            json={
                **body,
                "name": "Stalled, oldest first",
                "filters": {
                    "stalled": True,
                    "order": "asc",
                    "created_from": "2026-10-01T00:00:00Z",
                },
            },
        )
    ).json()

    listed = (await api.get("/views", params={"team": team})).json()["items"]
    assert [v["name"] for v in listed] == [
        "Beijing, open, newest update first",
        "Stalled, oldest first",
    ]
    assert (await api.get("/views", params={"team": "nobody"})).json() == {"items": []}
    assert (await api.get(f"/views/{view['view_id']}")).json() == view

    # Running a view answers exactly like the list with the same query.
    ran = await api.get(f"/views/{view['view_id']}/claims")
    assert ran.status_code == 200
    direct = await api.get(
        "/claims", params={"city": "Beijing", "status": "open", "sort": "updated_at"}
    )
    assert ran.json() == direct.json()
    want = oracle(rows, lambda r: r.city == "Beijing" and r.status == "open", "updated_at")
    assert [c["claim_id"] for c in ran.json()["items"]] == want
    ids, totals = await fetch_all(api, {}, limit=1, path=f"/views/{view['view_id']}/claims")
    assert ids == want and set(totals) == {len(want)}
    ids, _ = await fetch_all(api, {}, limit=2, path=f"/views/{stalled['view_id']}/claims")
    assert ids == oracle(rows, lambda r: r.stalled, "created_at", "asc")
    # The view's own filters only; a cursor from another order is refused.
    r = await api.get(f"/views/{view['view_id']}/claims", params={"city": "Wuhan"})
    assert r.status_code == 422
    other_cursor = (await api.get("/claims", params={"limit": 1})).json()["next_cursor"]
    r = await api.get(f"/views/{view['view_id']}/claims", params={"cursor": other_cursor})
    assert r.status_code == 422

    # A view can only hold what the list understands.
    for filters in (
        {"colour": "red"},
        {"stage": "limbo"},
        {"created_from": "2026-11-08T20:00:00"},
        {"sort": "name"},
        {"limit": 5},
        {"cursor": "x"},
    ):
        r = await api.post("/views", json={**body, "name": f"bad {filters}", "filters": filters})
        assert r.status_code == 422, (filters, r.text)
    r = await api.post("/views", json={**body, "name": "x", "shared": True})
    assert r.status_code == 422
    stored = await pool.fetchval("SELECT count(*) FROM saved_views WHERE team = $1", team)
    assert stored == 2

    r = await api.delete(f"/views/{view['view_id']}")
    assert r.status_code == 204
    assert (await api.get(f"/views/{view['view_id']}")).status_code == 404
    assert (await api.get(f"/views/{view['view_id']}/claims")).status_code == 404
    assert (await api.delete(f"/views/{view['view_id']}")).status_code == 404
    # The name is free again in the team.
    assert (await api.post("/views", json=body)).status_code == 201
    await pool.execute("DELETE FROM saved_views WHERE team = ANY($1)", [team, other])


# --- query plans at 100,000 claims ------------------------------------------------------

_CLAIMS_SQL = """
INSERT INTO claims (claim_id, stage, status, closure, policyholder_name, policy_number, city,
    source, claim_type, consultant, created_at, updated_at, closed_at, version, snapshot,
    field_agent, awarded_amount, stalled, stalled_since)
SELECT id, CASE WHEN open THEN (ARRAY['triage','dispatch','document_gathering','verification',
           'filing','pre_decision_explanation','insurer_review','payout_explanation',
           'dispute'])[1 + (i / 5) % 9] ELSE 'closed' END,
       CASE WHEN open THEN 'open' ELSE 'closed' END,
       CASE WHEN open THEN NULL ELSE 'paid_and_explained' END,
       (ARRAY['Wang','Li','Zhang','Liu','Chen','Yang','Zhao','Huang','Zhou','Wu'])[1 + i % 10]
           || ' ' || substr(md5(i::text), 1, 10),
       'P-' || (2015 + i % 10) || '-' || lpad(i::text, 7, '0'),
       (ARRAY['Beijing','Wuhan','Shenzhen','Xi''an','Shanghai','Guangzhou','Chengdu',
              'Hangzhou','Nanjing','Tianjin','Chongqing','Suzhou','Zhengzhou','Changsha',
              'Dongguan','Qingdao','Shenyang','Ningbo','Kunming','Hefei','Foshan','Fuzhou',
              'Dalian','Xiamen','Harbin'])[1 + (i * 7) % 25],
       (ARRAY['return_visit','hotline','self_report'])[1 + i % 3],
       (ARRAY['critical_illness','medical_reimbursement','hospitalization_allowance',
              'accident'])[1 + i % 4],
       'consultant-' || (i % 40),
       created, least(now(), created + ((i * 13) % 200) * interval '1 hour'),
       CASE WHEN open THEN NULL ELSE created + interval '30 days' END,
       1, jsonb_set($1::jsonb, '{claim_id}', to_jsonb(id)),
       CASE WHEN i % 2 = 0 THEN 'agent-' || (i % 300) END,
       CASE WHEN NOT open AND i % 3 = 0 THEN (i % 1000) * 100.00 END,
       i % 35 = 0, CASE WHEN i % 35 = 0 THEN now() - interval '3 days' END
  FROM (SELECT i, 'CLM-' || lpad(to_hex(i), 16, '0') AS id, i % 5 = 0 AS open,
               now() - i * interval '3 minutes' AS created
          FROM generate_series(1, 100000) AS i) AS g
"""

# Three tasks a claim; an open claim's third task is open, one in ten of those overdue.
_TASKS_SQL = """
INSERT INTO tasks (task_id, claim_id, kind, role, assignee, status, created_at, due_at,
    completed_at, completed_by, version)
SELECT id || '-T' || k, id, (ARRAY['triage','accept_dispatch','gather_documents'])[k],
       'consultant', 'consultant-' || (i % 40),
       CASE WHEN is_open THEN 'open' ELSE 'completed' END,
       created + (k - 1) * interval '1 day',
       CASE WHEN is_open THEN now() + (((i / 5) % 20) - 2) * interval '1 day'
            ELSE created + (k + 1) * interval '1 day' END,
       CASE WHEN is_open THEN NULL ELSE created + (k - 1) * interval '1 day'
            + ((i * k) % 72) * interval '1 hour' END,
       CASE WHEN is_open THEN NULL ELSE 'consultant-' || (i % 40) END,
       1
  FROM (SELECT i, k, 'CLM-' || lpad(to_hex(i), 16, '0') AS id,
               i % 5 = 0 AND k = 3 AS is_open, now() - i * interval '3 minutes' AS created
          FROM generate_series(1, 100000) AS i, generate_series(1, 3) AS k) AS g
"""


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


@dataclass(frozen=True)
class PlanFacts:
    indexes: list[str]
    seq_scans: list[str]
    ms: float


async def _explain(conn: asyncpg.Connection, sql: str, args: list[Any]) -> PlanFacts:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    doc = (raw if isinstance(raw, list) else json.loads(raw))[0]
    nodes = _plan_nodes(doc["Plan"])
    indexes = [n["Index Name"] for n in nodes if "Index Name" in n]
    seq = [n.get("Relation Name", "?") for n in nodes if n["Node Type"] == "Seq Scan"]
    return PlanFacts(list(dict.fromkeys(indexes)), seq, doc["Execution Time"])


async def test_query_plans_use_indexes_at_100k_claims(stack):
    db = f"manager_view_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    dsn = stack.dsn.replace("/postgres?", f"/{db}?")
    assert dsn != stack.dsn
    pool = None
    try:
        await migrate(dsn)
        pool = await create_pool(dsn)
        template = mixed()[0]
        template_view = ClaimView(
            claim_id="template",
            stage=ClaimStage.TRIAGE,
            status=ClaimStatus.OPEN,
            opening=ClaimOpening.model_validate(wang_opening()),
            created_at=template.created_at,
            updated_at=template.created_at,
            version=1,
        )
        started = time.perf_counter()
        await pool.execute(_CLAIMS_SQL, template_view.model_dump(mode="json"))
        await pool.execute(_TASKS_SQL)
        loaded = time.perf_counter() - started
        await pool.execute("VACUUM ANALYZE claims")
        await pool.execute("VACUUM ANALYZE tasks")
        assert await pool.fetchval("SELECT count(*) FROM claims") == 100_000
        assert await pool.fetchval("SELECT count(*) FROM tasks") == 300_000
        print(f"\nloaded 100,000 claims and 300,000 tasks in {loaded:.1f}s")

        probe = await pool.fetchval("SELECT substr(md5('4242'), 3, 6)")
        now = datetime.now(UTC)
        base = ClaimQuery()
        cases: list[tuple[str, ClaimQuery, bool]] = [
            # (label, filter, must the page avoid a Seq Scan on claims)
            ("no filter", base, True),
            ("stage=triage", ClaimQuery(stage="triage"), True),
            ("city=Xi'an", ClaimQuery(city="Xi'an"), True),
            ("q=name part", ClaimQuery(q=probe.upper()), True),
            ("q=policy part", ClaimQuery(q="p-2019-00042"), True),
            ("stalled", ClaimQuery(stalled=True), True),
            (
                "created last week",
                ClaimQuery(created_from=now - timedelta(days=7), created_to=now),
                True,
            ),
            ("overdue", ClaimQuery(overdue=True), True),
            ("status=open", ClaimQuery(status="open"), True),
            ("source=hotline", ClaimQuery(source="hotline"), True),
            ("claim_type=accident", ClaimQuery(claim_type="accident"), True),
            ("consultant", ClaimQuery(consultant="consultant-7"), True),
            ("field_agent", ClaimQuery(field_agent="agent-42"), True),
            (
                "city+stage+overdue",
                ClaimQuery(city="Beijing", stage="triage", overdue=True),
                True,
            ),
            (
                "sort=updated_at asc",
                ClaimQuery(sort=ClaimSort.UPDATED_AT, order=SortOrder.ASC),
                True,
            ),
        ]
        failures = []
        print(f"{'query':<22}{'page ms':>9}  {'page indexes':<58}{'count ms':>9}  count plan")
        async with pool.acquire() as conn:
            for label, f, must in cases:
                page = await _explain(conn, *claim_list.claims_page_query(f, limit=50, cursor=None))
                count = await _explain(conn, *claim_list.claims_count_query(f))
                t = time.perf_counter()
                result = await claim_list.list_claims(pool, f, limit=50, cursor=None)
                wall = (time.perf_counter() - t) * 1000
                # a second page, through the cursor, uses the same plan shape
                if result.next_cursor:
                    await claim_list.list_claims(pool, f, limit=50, cursor=result.next_cursor)
                count_plan = ",".join(count.indexes) or "-"
                if count.seq_scans:
                    count_plan += f" (Seq Scan {','.join(count.seq_scans)})"
                print(
                    f"{label:<22}{page.ms:>9.2f}  {','.join(page.indexes):<58}"
                    f"{count.ms:>9.2f}  {count_plan}   [list_claims {wall:.1f} ms,"
                    f" total {result.total}]"
                )
                if must and ("claims" in page.seq_scans or not page.indexes):
                    failures.append((label, page))
        assert not failures, failures
    finally:
        if pool is not None:
            await pool.close()
        admin = await asyncpg.connect(stack.dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await admin.close()
