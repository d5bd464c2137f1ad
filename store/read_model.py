"""Reads and writes of the claims read model.

Writes come only from the projection activity; each is idempotent: a claim or task row is
replaced only by a newer version, a timeline entry is inserted once by (claim_id, seq).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from domain.checklist import ChecklistItem
from domain.models import ClaimProjection, ClaimView, Task, TimelineEntry
from store import workflow_health


async def write_projection(pool: asyncpg.Pool, p: ClaimProjection) -> None:
    c = p.claim
    o = c.opening
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO claims (claim_id, stage, status, closure, policyholder_name,
                policy_number, city, source, claim_type, consultant, created_at, updated_at,
                closed_at, version, snapshot, field_agent, insurer_claim_reference,
                expected_payout, awarded_amount, stalled, stalled_since)
            VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)
            ON CONFLICT (claim_id) DO UPDATE SET
                stage = EXCLUDED.stage, status = EXCLUDED.status, closure = EXCLUDED.closure,
                consultant = EXCLUDED.consultant, updated_at = EXCLUDED.updated_at,
                closed_at = EXCLUDED.closed_at, version = EXCLUDED.version,
                snapshot = EXCLUDED.snapshot, field_agent = EXCLUDED.field_agent,
                insurer_claim_reference = EXCLUDED.insurer_claim_reference,
                expected_payout = EXCLUDED.expected_payout,
                awarded_amount = EXCLUDED.awarded_amount,
                stalled = EXCLUDED.stalled, stalled_since = EXCLUDED.stalled_since
            WHERE claims.version <= EXCLUDED.version
            """,
            c.claim_id,
            c.stage.value,
            c.status.value,
            c.closure.value if c.closure else None,
            o.policyholder.name,
            o.policy.policy_number,
            o.policyholder.city,
            o.source.value,
            o.incident.claim_type.value,
            o.consultant,
            c.created_at,
            c.updated_at,
            c.closed_at,
            c.version,
            c.model_dump(mode="json"),
            c.field_agent,
            c.filing.insurer_claim_reference if c.filing else None,
            c.payout.expected.payout if c.payout.expected else None,
            c.payout.awarded,
            c.stalled_since is not None,
            c.stalled_since,
        )
        if c.checklist:
            await conn.executemany(
                """
                INSERT INTO checklist_items (claim_id, code, position, title_en, title_zh,
                    hospital_document, status, rejection_reason, note, version)
                VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                ON CONFLICT (claim_id, code) DO UPDATE SET
                    position = EXCLUDED.position, status = EXCLUDED.status,
                    rejection_reason = EXCLUDED.rejection_reason, note = EXCLUDED.note,
                    version = EXCLUDED.version
                WHERE checklist_items.version <= EXCLUDED.version
                """,
                [
                    (
                        c.claim_id,
                        i.code,
                        n,
                        i.title_en,
                        i.title_zh,
                        i.hospital_document,
                        i.status.value,
                        i.rejection_reason,
                        i.note,
                        c.version,
                    )
                    for n, i in enumerate(c.checklist)
                ],
            )
        if p.tasks:
            await conn.executemany(
                """
                INSERT INTO tasks (task_id, claim_id, kind, role, assignee, status, created_at,
                    due_at, completed_at, completed_by, data, result, version, priority,
                    escalation_level)
                VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
                ON CONFLICT (task_id) DO UPDATE SET
                    assignee = EXCLUDED.assignee, status = EXCLUDED.status,
                    due_at = EXCLUDED.due_at, completed_at = EXCLUDED.completed_at,
                    completed_by = EXCLUDED.completed_by, data = EXCLUDED.data,
                    result = EXCLUDED.result, version = EXCLUDED.version,
                    priority = EXCLUDED.priority, escalation_level = EXCLUDED.escalation_level
                WHERE tasks.version <= EXCLUDED.version
                """,
                [
                    (
                        t.task_id,
                        t.claim_id,
                        t.kind.value,
                        t.role.value,
                        t.assignee,
                        t.status.value,
                        t.created_at,
                        t.due_at,
                        t.completed_at,
                        t.completed_by,
                        t.data,
                        t.result,
                        c.version,
                        t.priority.value,
                        t.escalation_level,
                    )
                    for t in p.tasks
                ],
            )
        if p.timeline:
            await conn.executemany(
                """
                INSERT INTO timeline (claim_id, seq, at, actor, action, details)
                VALUES ($1,$2,$3,$4,$5,$6)
                ON CONFLICT (claim_id, seq) DO NOTHING
                """,
                [(e.claim_id, e.seq, e.at, e.actor, e.action, e.details) for e in p.timeline],
            )


# --- reads ------------------------------------------------------------------------------


async def get_claim(pool: asyncpg.Pool, claim_id: str) -> ClaimView | None:
    row = await pool.fetchrow("SELECT snapshot FROM claims WHERE claim_id = $1", claim_id)
    return ClaimView.model_validate(row["snapshot"]) if row else None


class ClaimSort(StrEnum):
    """The orders a claim list is read in; each has an index (created_at, updated_at)."""

    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class ClaimFilter:
    """A manager's search over every claim: all given filters hold at once (AND)."""

    stage: str | None = None
    status: str | None = None
    city: str | None = None
    consultant: str | None = None
    field_agent: str | None = None
    source: str | None = None
    claim_type: str | None = None
    overdue: bool | None = None
    """True: the claim has an open task past its due time; False: it has none."""
    stalled: bool | None = None
    broken: bool | None = None
    """True: the claim's workflow stopped without closing it (failed, terminated, timed out,
    canceled; store/workflow_health.py); False: it did not."""
    created_from: datetime | None = None
    """Ranges include their start and exclude their end."""
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    q: str | None = None
    """A case-insensitive substring of the policyholder's name or the policy number."""
    sort: ClaimSort = ClaimSort.CREATED_AT
    order: SortOrder = SortOrder.DESC


@dataclass(frozen=True)
class Page:
    items: list[ClaimView]
    next_cursor: str | None
    total: int
    """Every claim the filter matches, on all pages."""


def _encode_cursor(sort: ClaimSort, order: SortOrder, key: datetime, claim_id: str) -> str:
    raw = json.dumps(
        {"sort": sort.value, "order": order.value, "key": key.isoformat(), "id": claim_id},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: ClaimSort, order: SortOrder) -> tuple[datetime, str]:
    """The position after which the next page starts.

    Raises ValueError for a cursor this service did not issue, or one issued for another
    order (its position means nothing in this one)."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        data = json.loads(raw)
        key = datetime.fromisoformat(data["key"])
        claim_id, their_sort, their_order = data["id"], data["sort"], data["order"]
        if key.tzinfo is None or not all(
            isinstance(v, str) for v in (claim_id, their_sort, their_order)
        ):
            raise ValueError("bad fields")
    except Exception as exc:  # noqa: BLE001 - any malformed cursor is the caller's error
        raise ValueError("malformed cursor") from exc
    if (their_sort, their_order) != (sort.value, order.value):
        raise ValueError(
            f"the cursor pages by {their_sort} {their_order}, this list by {sort} {order}"
        )
    return key, claim_id


_EQUALS = ("stage", "status", "city", "consultant", "field_agent", "source", "claim_type")
_RANGES = (
    ("created_at", ">=", "created_from"),
    ("created_at", "<", "created_to"),
    ("updated_at", ">=", "updated_from"),
    ("updated_at", "<", "updated_to"),
)
_OVERDUE = (
    "EXISTS (SELECT 1 FROM tasks t WHERE t.claim_id = c.claim_id"
    " AND t.status = 'open' AND t.due_at < now())"
)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(f: ClaimFilter, args: list[Any]) -> list[str]:
    """The WHERE clause of a filter; every value is a parameter appended to `args`."""

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = [
        f"c.{column} = {param(getattr(f, column))}"
        for column in _EQUALS
        if getattr(f, column) is not None
    ]
    where += [
        f"c.{column} {op} {param(getattr(f, field))}"
        for column, op, field in _RANGES
        if getattr(f, field) is not None
    ]
    # Booleans choose between fixed SQL: `c.stalled` lets the planner use the partial index.
    if f.stalled is not None:
        where.append("c.stalled" if f.stalled else "NOT c.stalled")
    if f.overdue is not None:
        where.append(_OVERDUE if f.overdue else f"NOT {_OVERDUE}")
    if f.broken is not None:
        where.append(
            "c.workflow_status IS NOT NULL" if f.broken else "c.workflow_status IS NULL"
        )
    if f.q is not None:
        pattern = param(f"%{_like_escape(f.q)}%")
        where.append(
            f"(lower(c.policyholder_name) LIKE lower({pattern})"
            f" OR lower(c.policy_number) LIKE lower({pattern}))"
        )
    return where


def _where_sql(where: list[str]) -> str:
    return " WHERE " + " AND ".join(where) if where else ""


_MARK_COLUMNS = "c.workflow_status, c.workflow_failure, c.workflow_failed_at"


def claims_page_query(f: ClaimFilter, *, limit: int, cursor: str | None) -> tuple[str, list[Any]]:
    """The SQL of one page (limit + 1 rows, to know whether another page follows)."""
    args: list[Any] = []
    where = _conditions(f, args)
    column = f.sort.value  # one of the ClaimSort columns, never caller text
    direction, after = ("DESC", "<") if f.order is SortOrder.DESC else ("ASC", ">")
    if cursor:
        key, claim_id = decode_cursor(cursor, f.sort, f.order)
        args += [key, claim_id]
        where.append(f"(c.{column}, c.claim_id) {after} (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    sql = (
        f"SELECT c.claim_id, c.{column} AS sort_key, c.snapshot, {_MARK_COLUMNS}"
        f" FROM claims c{_where_sql(where)}"
        f" ORDER BY c.{column} {direction}, c.claim_id {direction} LIMIT ${len(args)}"
    )
    return sql, args


def claims_count_query(f: ClaimFilter) -> tuple[str, list[Any]]:
    args: list[Any] = []
    return f"SELECT count(*) FROM claims c{_where_sql(_conditions(f, args))}", args


async def list_claims(
    pool: asyncpg.Pool, f: ClaimFilter, *, limit: int, cursor: str | None
) -> Page:
    """One page of the claims matching `f`, in its order, and how many match in all.

    Raises ValueError for a bad cursor."""
    page_sql, page_args = claims_page_query(f, limit=limit, cursor=cursor)
    count_sql, count_args = claims_count_query(f)
    # One snapshot for both, so the total agrees with the page.
    async with pool.acquire() as conn, conn.transaction(
        isolation="repeatable_read", readonly=True
    ):
        rows = await conn.fetch(page_sql, *page_args)
        total = await conn.fetchval(count_sql, *count_args)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [workflow_health.with_mark(ClaimView.model_validate(r["snapshot"]), r) for r in rows]
    next_cursor = (
        _encode_cursor(f.sort, f.order, rows[-1]["sort_key"], rows[-1]["claim_id"])
        if more
        else None
    )
    return Page(items=items, next_cursor=next_cursor, total=total)


async def timeline(pool: asyncpg.Pool, claim_id: str) -> list[TimelineEntry]:
    rows = await pool.fetch(
        "SELECT claim_id, seq, at, actor, action, details FROM timeline"
        " WHERE claim_id = $1 ORDER BY seq",
        claim_id,
    )
    return [TimelineEntry.model_validate(dict(r)) for r in rows]


_TASK_COLUMNS = (
    "task_id, claim_id, kind, role, assignee, status, created_at, due_at, completed_at,"
    " completed_by, priority, escalation_level, data, result"
)


async def get_task(pool: asyncpg.Pool, task_id: str) -> Task | None:
    row = await pool.fetchrow(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE task_id = $1", task_id)
    return Task.model_validate(dict(row)) if row else None


async def inbox(
    pool: asyncpg.Pool,
    *,
    assignee: str | None,
    role: str | None,
    status: str | None,
    claim_id: str | None = None,
    limit: int,
) -> list[Task]:
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("assignee", assignee),
        ("role", role),
        ("status", status),
        ("claim_id", claim_id),
    ):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    args.append(limit)
    sql = (
        f"SELECT {_TASK_COLUMNS} FROM tasks"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY due_at NULLS LAST, created_at, task_id LIMIT ${len(args)}"
    )
    return [Task.model_validate(dict(r)) for r in await pool.fetch(sql, *args)]


async def checklist(pool: asyncpg.Pool, claim_id: str) -> list[ChecklistItem]:
    rows = await pool.fetch(
        "SELECT code, title_en, title_zh, hospital_document, status, rejection_reason, note"
        " FROM checklist_items WHERE claim_id = $1 ORDER BY position",
        claim_id,
    )
    return [ChecklistItem.model_validate(dict(r)) for r in rows]


async def claims_by_insurer_reference(pool: asyncpg.Pool, reference: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT claim_id FROM claims WHERE insurer_claim_reference = $1", reference
    )
    return [r["claim_id"] for r in rows]


async def ping(pool: asyncpg.Pool) -> None:
    await pool.fetchval("SELECT 1")
