"""Who works what, read in one round trip: the facts the API's ownership rules decide on.

The rules themselves live in `api/auth.py`; this module only reads what they need."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from domain.models import Task
from store.read_model import _TASK_COLUMNS


@dataclass(frozen=True)
class TaskForActor:
    """A task and how the person asking stands to its claim."""

    task: Task
    claim_known: bool
    """The task's claim is in the read model."""
    works_claim: bool
    """The person works the task's claim: he is assigned one of its tasks, or he is its
    consultant (as a consultant) or its field agent (as a field agent)."""


_TASK_FOR_ACTOR = f"""
SELECT {", ".join(f"t.{c.strip()}" for c in _TASK_COLUMNS.split(","))},
       c.claim_id IS NOT NULL AS claim_known,
       COALESCE(
           ($3 = 'consultant' AND c.consultant = $2)
           OR ($3 = 'field_agent' AND c.field_agent = $2)
           OR EXISTS (SELECT 1 FROM tasks o WHERE o.claim_id = t.claim_id AND o.assignee = $2),
           false) AS works_claim
  FROM tasks t
  LEFT JOIN claims c ON c.claim_id = t.claim_id
 WHERE t.task_id = $1
"""


async def task_for_actor(
    pool: asyncpg.Pool, task_id: str, user_id: str, role: str
) -> TaskForActor | None:
    """The task with the asker's standing on its claim, in one query; None if no such task."""
    row = await pool.fetchrow(_TASK_FOR_ACTOR, task_id, user_id, role)
    if row is None:
        return None
    values = dict(row)
    claim_known = values.pop("claim_known")
    works_claim = values.pop("works_claim")
    return TaskForActor(
        task=Task.model_validate(values), claim_known=claim_known, works_claim=works_claim
    )
