"""The claim list: the one claim query (what `GET /claims` and every saved view search by),
its pages, and the slim list item.

A list item is read from the claims table's columns and the open task rows, never from the
jsonb snapshot: a list page reads indexes and short rows, and it does not depend on what the
snapshot holds."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any

import asyncpg
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from domain.limits import MAX_SEARCH
from domain.models import BrokenWorkflow
from domain.vocabulary import (
    AwareDatetime,
    ClaimStage,
    ClaimStatus,
    ClaimType,
    Closure,
    DiscoverySource,
    Model,
    Name,
    Priority,
    Role,
    Storable,
    TaskKind,
    within_years,
)
from store import workflow_health

SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SEARCH), Storable
]


class ClaimSort(StrEnum):
    """The orders a claim list is read in; each has an index (created_at, updated_at)."""

    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class ClaimQuery(Model):
    """What a manager searches claims by, and in which order: all given filters hold at once
    (AND). Ranges include their start and exclude their end; all times carry their zone.

    The one model behind `GET /claims` (its query parameters), every saved view (stored as
    JSON) and the store's list query. An unknown query parameter is refused (FastAPI passes
    every parameter to a model that forbids extras); a saved view is read back with
    `ClaimQuery.stored`, which drops what this version no longer knows."""

    model_config = ConfigDict(extra="forbid")

    stage: ClaimStage | None = None
    status: ClaimStatus | None = None
    city: Name | None = None
    consultant: Name | None = None
    field_agent: Name | None = None
    source: DiscoverySource | None = None
    claim_type: ClaimType | None = None
    overdue: bool | None = Field(None, description="Has an open task past its due time.")
    stalled: bool | None = Field(None, description="Flagged as stalled: no progress for days.")
    broken: bool | None = Field(
        None,
        description="Its workflow stopped without closing the claim (failed, terminated, timed"
        " out, canceled): `broken_workflow` says how and why; nothing can act on it.",
    )
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    updated_from: AwareDatetime | None = None
    updated_to: AwareDatetime | None = None
    q: SearchText | None = Field(
        None, description="Part of the policyholder's name or of the policy number, any case."
    )
    sort: ClaimSort = ClaimSort.CREATED_AT
    order: SortOrder = SortOrder.DESC

    @model_validator(mode="after")
    def _ranges_run_forward(self) -> ClaimQuery:
        for start, end in (
            (self.created_from, self.created_to),
            (self.updated_from, self.updated_to),
        ):
            if start is not None and end is not None and start > end:
                raise ValueError("a range must not end before it starts")
        return self

    @classmethod
    def stored(cls, data: dict[str, Any]) -> ClaimQuery:
        """A query saved by this or an earlier version: filters it no longer knows are
        dropped (a saved view keeps working without them)."""
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


# --- the list item ----------------------------------------------------------------------


class ListedTask(Model):
    """An open task of a listed claim: enough to pick it for a bulk reassignment."""

    task_id: str
    kind: TaskKind
    role: Role
    assignee: str | None = None
    due_at: AwareDatetime | None = None
    priority: Priority = Priority.NORMAL
    overdue: bool = False
    """Past its due time."""


class ClaimListItem(Model):
    """One claim in a list: its columns in the read model, and its open tasks. The whole
    claim is `GET /claims/{id}`."""

    claim_id: str
    stage: ClaimStage
    status: ClaimStatus
    closure: Closure | None = None
    policyholder_name: str
    policy_number: str
    city: str
    source: DiscoverySource
    claim_type: ClaimType
    consultant: str
    field_agent: str | None = None
    insurer_claim_reference: str | None = None
    expected_payout: Decimal | None = None
    awarded_amount: Decimal | None = None
    stalled: bool = False
    stalled_since: AwareDatetime | None = None
    overdue: bool = False
    """Has an open task past its due time."""
    broken_workflow: BrokenWorkflow | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    version: int = 0
    open_tasks: list[ListedTask] = []
    """Soonest due first."""


@dataclass(frozen=True)
class Page:
    items: list[ClaimListItem]
    next_cursor: str | None
    total: int
    """Every claim the query matches, on all pages."""


# --- the SQL ----------------------------------------------------------------------------


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
        if not within_years(key) or not all(
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


def _conditions(f: ClaimQuery, args: list[Any]) -> list[str]:
    """The WHERE clause of a query; every value is a parameter appended to `args`."""

    def param(value: Any) -> str:
        args.append(value.value if isinstance(value, Enum) else value)
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


_ITEM_COLUMNS = (
    "c.claim_id, c.stage, c.status, c.closure, c.policyholder_name, c.policy_number, c.city,"
    " c.source, c.claim_type, c.consultant, c.field_agent, c.insurer_claim_reference,"
    " c.expected_payout, c.awarded_amount, c.stalled, c.stalled_since, c.created_at,"
    " c.updated_at, c.closed_at, c.version,"
    " c.workflow_status, c.workflow_failure, c.workflow_failed_at"
)

_OPEN_TASKS = """
SELECT claim_id, task_id, kind, role, assignee, due_at, priority,
       COALESCE(due_at < now(), false) AS overdue
  FROM tasks
 WHERE status = 'open' AND claim_id = ANY($1::text[])
 ORDER BY due_at NULLS LAST, created_at, task_id
"""


def claims_page_query(f: ClaimQuery, *, limit: int, cursor: str | None) -> tuple[str, list[Any]]:
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
        f"SELECT {_ITEM_COLUMNS}, c.{column} AS sort_key FROM claims c{_where_sql(where)}"
        f" ORDER BY c.{column} {direction}, c.claim_id {direction} LIMIT ${len(args)}"
    )
    return sql, args


def claims_count_query(f: ClaimQuery) -> tuple[str, list[Any]]:
    args: list[Any] = []
    return f"SELECT count(*) FROM claims c{_where_sql(_conditions(f, args))}", args


_NOT_ITEM_FIELDS = ("sort_key", "workflow_status", "workflow_failure", "workflow_failed_at")


def _item(row: asyncpg.Record, tasks: list[ListedTask]) -> ClaimListItem:
    values = {k: v for k, v in dict(row).items() if k not in _NOT_ITEM_FIELDS}
    return ClaimListItem(
        **values,
        overdue=any(t.overdue for t in tasks),
        broken_workflow=workflow_health.broken_of_row(row),
        open_tasks=tasks,
    )


async def list_claims(
    pool: asyncpg.Pool, f: ClaimQuery, *, limit: int, cursor: str | None
) -> Page:
    """One page of the claims matching `f`, in its order, and how many match in all.

    Raises ValueError for a bad cursor."""
    page_sql, page_args = claims_page_query(f, limit=limit, cursor=cursor)
    count_sql, count_args = claims_count_query(f)
    # One snapshot for the page, its open tasks and the total, so they agree.
    async with pool.acquire() as conn, conn.transaction(
        isolation="repeatable_read", readonly=True
    ):
        rows = (await conn.fetch(page_sql, *page_args))[: limit + 1]
        more = len(rows) > limit
        rows = rows[:limit]
        task_rows = await conn.fetch(_OPEN_TASKS, [r["claim_id"] for r in rows]) if rows else []
        total = await conn.fetchval(count_sql, *count_args)
    tasks: dict[str, list[ListedTask]] = {}
    for t in task_rows:
        values = dict(t)
        tasks.setdefault(values.pop("claim_id"), []).append(ListedTask.model_validate(values))
    items = [_item(r, tasks.get(r["claim_id"], [])) for r in rows]
    next_cursor = (
        _encode_cursor(f.sort, f.order, rows[-1]["sort_key"], rows[-1]["claim_id"])
        if more
        else None
    )
    return Page(items=items, next_cursor=next_cursor, total=total)
