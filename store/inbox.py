"""A person's inbox as the console shows it: open tasks with the facts of their claims.

One index-backed query (tasks_inbox_idx: assignee, status, due_at), joined to each task's
claim row by its primary key, so a page costs the same with 100,000 claims as with ten.
"""

from __future__ import annotations

from typing import Any

import asyncpg

_COLUMNS = """
    t.task_id, t.claim_id, t.kind, t.role, t.assignee, t.status, t.created_at, t.due_at,
    t.completed_at, t.completed_by, t.priority, t.escalation_level, t.data, t.result,
    COALESCE(t.due_at < now(), false) AS overdue,
    c.claim_type, c.policyholder_name, c.city, c.stage,
    c.snapshot->>'visit_at' AS visit_at
"""


def _where(user_id: str, role: str | None) -> tuple[str, list[Any]]:
    """His own open tasks, and the unassigned open tasks of his role (if given)."""
    if role is None:
        return "t.assignee = $1 AND t.status = 'open'", [user_id]
    return (
        "t.status = 'open' AND (t.assignee = $1 OR (t.assignee IS NULL AND t.role = $2))",
        [user_id, role],
    )


async def open_tasks(
    pool: asyncpg.Pool, user_id: str, role: str | None, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the inbox, soonest due first, and how many open tasks there are in all."""
    where, args = _where(user_id, role)
    n = len(args)
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM tasks t JOIN claims c ON c.claim_id = t.claim_id"
        f" WHERE {where} ORDER BY t.due_at NULLS LAST, t.created_at, t.task_id"
        f" LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    total = await pool.fetchval(f"SELECT count(*) FROM tasks t WHERE {where}", *args)
    return [dict(r) for r in rows], total
