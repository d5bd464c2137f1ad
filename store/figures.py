"""The figures a claims team lead watches, computed from the read model.

Current load (open claims per stage and city, overdue tasks, stalled claims) and, over a
time range, throughput: task cycle times and SLA attainment per kind, payouts awarded, and
a per-day series. Days are Asia/Shanghai days, as the people working the claims count them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from domain.vocabulary import SHANGHAI, AwareDatetime, ClaimStage, TaskKind

DAY_ZONE = "Asia/Shanghai"


class _Figure(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StageCount(_Figure):
    stage: ClaimStage
    open_claims: int


class CityCount(_Figure):
    city: str
    open_claims: int


class CycleTime(_Figure):
    """From a task's creation to its completion, for the tasks completed in the range."""

    kind: TaskKind
    completed: int
    p50_seconds: float
    p90_seconds: float


class SlaAttainment(_Figure):
    """Of the tasks with a due time completed in the range, the share completed by it."""

    kind: TaskKind
    completed: int
    on_time: int
    attainment: float


class Payouts(_Figure):
    """What insurers awarded on the claims closed in the range (yuan)."""

    claims: int
    amount: Decimal


class DayFigures(_Figure):
    """One day in Asia/Shanghai time."""

    day: date
    claims_opened: int
    claims_closed: int
    tasks_completed: int
    amount_awarded: Decimal


class Figures(_Figure):
    """What a claims team lead watches: the current load and the range's throughput."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    range_from: AwareDatetime = Field(serialization_alias="from")
    range_to: AwareDatetime = Field(serialization_alias="to")
    open_by_stage: list[StageCount]
    open_by_city: list[CityCount]
    overdue_tasks: int
    stalled_claims: int
    cycle_times: list[CycleTime]
    sla: list[SlaAttainment]
    payouts: Payouts
    days: list[DayFigures]


def shanghai_days(start: datetime, end: datetime) -> list[date]:
    """The Shanghai days that [start, end) touches."""
    first = start.astimezone(SHANGHAI).date()
    last = (end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def figures(pool: asyncpg.Pool, start: datetime, end: datetime) -> Figures:
    """Everything over [start, end); the current figures as of now. One snapshot for all."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        by_stage = await conn.fetch(
            "SELECT stage, count(*) AS n FROM claims WHERE status = 'open'"
            " GROUP BY stage ORDER BY stage"
        )
        by_city = await conn.fetch(
            "SELECT city, count(*) AS n FROM claims WHERE status = 'open'"
            " GROUP BY city ORDER BY n DESC, city"
        )
        overdue = await conn.fetchval(
            "SELECT count(*) FROM tasks WHERE status = 'open' AND due_at < now()"
        )
        stalled = await conn.fetchval(
            "SELECT count(*) FROM claims WHERE stalled AND status = 'open'"
        )
        per_kind = await conn.fetch(
            """
            SELECT kind,
                   count(*) AS completed,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) AS p90,
                   count(*) FILTER (WHERE due_at IS NOT NULL) AS with_deadline,
                   count(*) FILTER (WHERE completed_at <= due_at) AS on_time
              FROM (SELECT kind, due_at, completed_at,
                           extract(epoch FROM completed_at - created_at)::float8 AS seconds
                      FROM tasks
                     WHERE status = 'completed' AND completed_at >= $1 AND completed_at < $2
                   ) AS done
             GROUP BY kind ORDER BY kind
            """,
            start,
            end,
        )
        payouts = await conn.fetchrow(
            "SELECT count(awarded_amount) AS n, coalesce(sum(awarded_amount), 0.00) AS amount"
            " FROM claims WHERE closed_at >= $1 AND closed_at < $2",
            start,
            end,
        )
        opened = await conn.fetch(
            "SELECT (created_at AT TIME ZONE $3)::date AS day, count(*) AS n FROM claims"
            " WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
            start,
            end,
            DAY_ZONE,
        )
        closed = await conn.fetch(
            "SELECT (closed_at AT TIME ZONE $3)::date AS day, count(*) AS n,"
            " coalesce(sum(awarded_amount), 0.00) AS amount FROM claims"
            " WHERE closed_at >= $1 AND closed_at < $2 GROUP BY 1",
            start,
            end,
            DAY_ZONE,
        )
        completed = await conn.fetch(
            "SELECT (completed_at AT TIME ZONE $3)::date AS day, count(*) AS n FROM tasks"
            " WHERE status = 'completed' AND completed_at >= $1 AND completed_at < $2"
            " GROUP BY 1",
            start,
            end,
            DAY_ZONE,
        )
    opened_on = {r["day"]: r["n"] for r in opened}
    closed_on = {r["day"]: (r["n"], r["amount"]) for r in closed}
    completed_on = {r["day"]: r["n"] for r in completed}
    days = []
    for d in shanghai_days(start, end):
        closed_n, awarded = closed_on.get(d, (0, Decimal("0.00")))
        days.append(
            DayFigures(
                day=d,
                claims_opened=opened_on.get(d, 0),
                claims_closed=closed_n,
                tasks_completed=completed_on.get(d, 0),
                amount_awarded=awarded,
            )
        )
    return Figures(
        range_from=start,
        range_to=end,
        open_by_stage=[StageCount(stage=r["stage"], open_claims=r["n"]) for r in by_stage],
        open_by_city=[CityCount(city=r["city"], open_claims=r["n"]) for r in by_city],
        overdue_tasks=overdue,
        stalled_claims=stalled,
        cycle_times=[
            CycleTime(
                kind=r["kind"], completed=r["completed"], p50_seconds=r["p50"], p90_seconds=r["p90"]
            )
            for r in per_kind
        ],
        sla=[
            SlaAttainment(
                kind=r["kind"],
                completed=r["with_deadline"],
                on_time=r["on_time"],
                attainment=r["on_time"] / r["with_deadline"],
            )
            for r in per_kind
            if r["with_deadline"]
        ],
        payouts=Payouts(claims=payouts["n"], amount=payouts["amount"]),
        days=days,
    )
