"""Who works what, read in one round trip: the facts the API's ownership rules decide on.

Who works a claim is defined here once, in SQL (`_WORKS_CLAIM`), and used by both questions
the API asks: may this person open this claim (`claim_standing`), and may he see or act on
this task (`task_for_actor`, which also reads the caller's current state from `users`, so the
completion path makes one round trip). The decisions themselves live in `api/auth.py`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from domain.models import Task
from domain.vocabulary import Role
from store.read_model import _TASK_COLUMNS


def _works_claim(claim: str, user_id: str, role: str) -> str:
    """A person works a claim when his *current* part in it says so:

    - he is its consultant and (still) a consultant (`claims.consultant`), or
    - he is its field agent and (still) a field agent (`claims.field_agent`: set when an
      agent accepts the visit), or
    - he holds an open task of it, of his current role (e.g. the visit he has not answered
      yet, or a task a manager moved to him).

    Tasks that are completed or cancelled grant nothing by themselves: an agent who declined
    the visit, or whose task was moved to someone else, no longer works the claim; the
    claim's own consultant and agent keep it through the claim's columns, whatever they did
    on its tasks. `role` is the caller's role as the users table has it now."""
    return f"""(
        ({role} = 'consultant' AND {claim}.consultant = {user_id})
        OR ({role} = 'field_agent' AND {claim}.field_agent = {user_id})
        OR EXISTS (SELECT 1 FROM tasks w
                    WHERE w.claim_id = {claim}.claim_id AND w.assignee = {user_id}
                      AND w.status = 'open' AND w.role = {role}))"""


@dataclass(frozen=True)
class Caller:
    """The caller as the users table has him now (only active users are found)."""

    user_id: str
    role: Role
    city: str | None


@dataclass(frozen=True)
class TaskForActor:
    """A task and how the person asking stands to its claim."""

    caller: Caller | None
    """The caller's current state; None if he is not (or no longer) an active user."""
    task: Task | None
    """None if there is no such task."""
    claim_known: bool
    """The task's claim is in the read model."""
    works_claim: bool
    """The caller works the task's claim (`_works_claim`)."""


# One row always: the caller (or NULLs), the task (or NULLs), his standing on its claim.
_TASK_FOR_ACTOR = f"""
SELECT u.user_id AS caller_id, u.role AS caller_role, u.city AS caller_city,
       t.task_id IS NOT NULL AS task_found,
       {", ".join(f"t.{c.strip()}" for c in _TASK_COLUMNS.split(","))},
       c.claim_id IS NOT NULL AS claim_known,
       COALESCE({_works_claim("c", "u.user_id", "u.role")}, false) AS works_claim
  FROM (SELECT $2::text AS user_id) me
  LEFT JOIN users u ON u.user_id = me.user_id AND u.active
  LEFT JOIN tasks t ON t.task_id = $1
  LEFT JOIN claims c ON c.claim_id = t.claim_id
"""


def _caller(values: dict) -> Caller | None:
    user_id, role, city = values.pop("caller_id"), values.pop("caller_role"), values.pop("caller_city")
    return None if user_id is None else Caller(user_id, Role(role), city)


async def task_for_actor(pool: asyncpg.Pool, task_id: str, user_id: str) -> TaskForActor:
    """The caller's current state, the task and his standing on its claim, in one query."""
    values = dict(await pool.fetchrow(_TASK_FOR_ACTOR, task_id, user_id))
    caller = _caller(values)
    task_found = values.pop("task_found")
    claim_known = values.pop("claim_known")
    works_claim = values.pop("works_claim")
    return TaskForActor(
        caller=caller,
        task=Task.model_validate(values) if task_found else None,
        claim_known=claim_known,
        works_claim=works_claim,
    )


_CLAIM_STANDING = f"""
SELECT COALESCE({_works_claim("c", "$2::text", "$3::text")}, false) AS works_claim
  FROM claims c WHERE c.claim_id = $1
"""


async def claim_standing(pool: asyncpg.Pool, claim_id: str, caller: Caller) -> bool | None:
    """Whether the caller works the claim (`_works_claim`); None if the claim is not in the
    read model."""
    row = await pool.fetchrow(_CLAIM_STANDING, claim_id, caller.user_id, caller.role.value)
    return None if row is None else row["works_claim"]


_CLAIMS_WORKED = f"""
SELECT c.claim_id FROM claims c
 WHERE c.claim_id = ANY($1::text[])
   AND COALESCE({_works_claim("c", "$2::text", "$3::text")}, false)
"""


async def claims_worked(pool: asyncpg.Pool, claim_ids: list[str], caller: Caller) -> set[str]:
    """Which of these claims the caller works (`_works_claim`), in one query."""
    rows = await pool.fetch(_CLAIMS_WORKED, claim_ids, caller.user_id, caller.role.value)
    return {r["claim_id"] for r in rows}


async def current_caller(pool: asyncpg.Pool, user_id: str) -> Caller | None:
    """The user as he is now, if he exists and is active (one primary-key lookup)."""
    row = await pool.fetchrow(
        "SELECT role, city FROM users WHERE user_id = $1 AND active", user_id
    )
    return None if row is None else Caller(user_id, Role(row["role"]), row["city"])


# --- who may be given a task -----------------------------------------------------------


_ASSIGNABLE = """
SELECT t.task_id, t.role AS task_role, c.city AS claim_city,
       u.user_id IS NOT NULL AS found, u.active, u.role, u.city
  FROM tasks t
  LEFT JOIN claims c ON c.claim_id = t.claim_id
  LEFT JOIN users u ON u.user_id = $2
 WHERE t.task_id = ANY($1::text[])
"""


def _why_not(row: asyncpg.Record, assignee: str) -> str | None:
    if not row["found"]:
        return f"assignee: no user {assignee}"
    if not row["active"]:
        return f"assignee: user {assignee} is disabled"
    if row["role"] != row["task_role"]:
        return f"assignee: {assignee} is a {row['role']}; this task is for a {row['task_role']}"
    if row["task_role"] == Role.FIELD_AGENT.value and (
        row["claim_city"] is None
        or (row["city"] or "").strip().casefold() != row["claim_city"].strip().casefold()
    ):
        return (
            f"assignee: field agent {assignee} serves {row['city'] or 'no city'},"
            f" not the claim's city {row['claim_city']}"
        )
    return None


async def why_not_assignable(
    pool: asyncpg.Pool, task_ids: list[str], assignee: str
) -> dict[str, str]:
    """Why `assignee` may not be given each of these tasks (task id -> reason; a task he may
    be given is not in the answer), in one query. He must be an active user of the task's
    role and, for a field agent's task, serve the claim's city (his city in `users`). Tasks
    not in the read model are left to the workflow to answer for."""
    rows = await pool.fetch(_ASSIGNABLE, task_ids, assignee)
    return {r["task_id"]: why for r in rows if (why := _why_not(r, assignee)) is not None}
