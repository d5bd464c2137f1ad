"""Reads and writes of the claims read model.

Writes come only from the projection activities; each is idempotent. A "ClaimCase" claim
sends its whole view (`write_projection`: rows replaced only by a newer version); a "Claim"
claim sends what changed (`write_changes`: its projections arrive one at a time, in order,
and the last is the truth). A timeline entry is keyed by (claim_id, seq).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import asyncpg

from domain.checklist import ChecklistItem
from domain.models import (
    ClaimChanges,
    ClaimColumns,
    ClaimProjection,
    ClaimView,
    Note,
    Task,
    TimelineEntry,
)


_TASK_UPSERT = """
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
"""
_CHECKLIST_UPSERT = """
    INSERT INTO checklist_items (claim_id, code, position, title_en, title_zh,
        hospital_document, status, rejection_reason, note, version)
    VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
    ON CONFLICT (claim_id, code) DO UPDATE SET
        position = EXCLUDED.position, status = EXCLUDED.status,
        rejection_reason = EXCLUDED.rejection_reason, note = EXCLUDED.note,
        version = EXCLUDED.version
    WHERE checklist_items.version <= EXCLUDED.version
"""
# A claim's projections are written one at a time, in order, by its workflow alone, so the
# last write is the truth: no version guard. (A guard would keep the writes of a workflow task
# that failed to complete, whose local activity ran ahead, over those of its retry.)
_TASK_WRITE = _TASK_UPSERT.replace("WHERE tasks.version <= EXCLUDED.version", "")
# The claims table's columns a projection may set (ClaimColumns), in table order.
_CLAIM_COLUMNS = tuple(ClaimColumns.model_fields)


def _column_value(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


# A local activity's write outlives a workflow task that failed to complete; the task's retry
# numbers its entries again, and its word is the last. (For a "ClaimCase" claim, whose
# projections are activities, a retry writes the same entry again.)
_TIMELINE_WRITE = """
    INSERT INTO timeline (claim_id, seq, at, actor, action, details)
    VALUES ($1,$2,$3,$4,$5,$6)
    ON CONFLICT (claim_id, seq) DO UPDATE SET at = EXCLUDED.at,
        actor = EXCLUDED.actor, action = EXCLUDED.action, details = EXCLUDED.details
"""


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
                _CHECKLIST_UPSERT, _checklist_rows(c.claim_id, c.checklist, c.version)
            )
        if p.tasks:
            await conn.executemany(_TASK_UPSERT, [_task_row(t, c.version) for t in p.tasks])
        if p.timeline:
            await conn.executemany(_TIMELINE_WRITE, _timeline_rows(p.timeline))


async def write_changes(pool: asyncpg.Pool, p: ClaimChanges) -> None:
    """Write one projection of what changed. Idempotent: the same projection twice writes
    the same rows; a timeline entry is keyed by (claim, seq)."""
    cols = ClaimColumns.model_validate(p.columns)
    names = [n for n in _CLAIM_COLUMNS if n in p.columns]
    values = [_column_value(getattr(cols, n)) for n in names]
    async with pool.acquire() as conn, conn.transaction():
        if p.full:
            placeholders = ",".join(f"${i}" for i in range(4, len(names) + 4))
            updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
            await conn.execute(
                f"""
                INSERT INTO claims (claim_id, version, snapshot, {", ".join(names)})
                VALUES ($1, $2, $3, {placeholders})
                ON CONFLICT (claim_id) DO UPDATE SET version = EXCLUDED.version,
                    snapshot = claims.snapshot || EXCLUDED.snapshot, {updates}
                """,
                p.claim_id,
                p.version,
                p.snapshot,
                *values,
            )
        else:
            sets = "".join(f", {n} = ${i}" for i, n in enumerate(names, start=4))
            await conn.execute(
                f"""
                UPDATE claims SET version = $2, snapshot = snapshot || $3{sets}
                WHERE claim_id = $1
                """,
                p.claim_id,
                p.version,
                p.snapshot,
                *values,
            )
        checklist = p.snapshot.get("checklist")
        if checklist:
            items = [ChecklistItem.model_validate(i) for i in checklist]
            await conn.executemany(
                _CHECKLIST_UPSERT, _checklist_rows(p.claim_id, items, p.version)
            )
        if p.tasks:
            await conn.executemany(_TASK_WRITE, [_task_row(t, p.version) for t in p.tasks])
        if p.timeline:
            await conn.executemany(_TIMELINE_WRITE, _timeline_rows(p.timeline))


def _task_row(t: Task, version: int) -> tuple[Any, ...]:
    return (
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
        version,
        t.priority.value,
        t.escalation_level,
    )


def _checklist_rows(
    claim_id: str, items: list[ChecklistItem], version: int
) -> list[tuple[Any, ...]]:
    return [
        (claim_id, i.code, n, i.title_en, i.title_zh, i.hospital_document, i.status.value,
         i.rejection_reason, i.note, version)
        for n, i in enumerate(items)
    ]  # fmt: skip


def _timeline_rows(entries: list[TimelineEntry]) -> list[tuple[Any, ...]]:
    return [(e.claim_id, e.seq, e.at, e.actor, e.action, e.details) for e in entries]


# --- reads ------------------------------------------------------------------------------

NOTES_SHOWN = 100
"""GET /claims/{id} shows the latest notes; the timeline has every one."""


async def get_claim(pool: asyncpg.Pool, claim_id: str) -> ClaimView | None:
    """The claim as last projected: its snapshot, with its open tasks and latest notes
    (which the snapshot does not repeat)."""
    row = await pool.fetchrow("SELECT snapshot FROM claims WHERE claim_id = $1", claim_id)
    if row is None:
        return None
    view = ClaimView.model_validate(row["snapshot"])
    if not view.tasks:
        view.tasks = await _open_tasks(pool, claim_id)
    return await with_notes(pool, view)


async def _open_tasks(pool: asyncpg.Pool, claim_id: str) -> list[Task]:
    rows = await pool.fetch(
        f"SELECT {_TASK_COLUMNS} FROM tasks WHERE claim_id = $1 AND status = 'open'"
        " ORDER BY created_at, task_id",
        claim_id,
    )
    return [Task.model_validate(dict(r)) for r in rows]


async def with_notes(pool: asyncpg.Pool, view: ClaimView) -> ClaimView:
    """A claim's latest notes from its timeline, for a view that does not carry them."""
    if view.notes:
        return view
    rows = await pool.fetch(
        "SELECT at, actor, details->>'text' AS text FROM ("
        "  SELECT seq, at, actor, details FROM timeline"
        "  WHERE claim_id = $1 AND action = 'note_added' ORDER BY seq DESC LIMIT $2"
        ") latest ORDER BY seq",
        view.claim_id,
        NOTES_SHOWN,
    )
    view.notes = [Note(at=r["at"], author=r["actor"], text=r["text"]) for r in rows]
    return view


# The claim list (the claim query, its pages and the slim list item) is store/claim_list.py.


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
