"""The read model's record of claims whose workflow stopped without closing them.

A workflow that failed, was terminated (e.g. by Temporal, past its history limit), timed out
or was canceled never projects again: its claim row would say "open" forever. The health
check (`claimflow.health`, run by the worker and by `claimflow reconcile`) asks Temporal
which claim workflows stopped so and marks their rows here: the `workflow_*` columns (what
the `broken` filter of the claim list reads) and `broken_workflow` in the snapshot (what
`GET /claims/{id}` answers once the workflow no longer does). Marking is idempotent; a mark
is removed when the claim's workflow runs again (e.g. after a Temporal reset).

The claim's status is left alone: it is the lifecycle the workflow reached (open), and the
mark says why it goes no further.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from domain.models import BrokenWorkflow, ClaimView
from domain.vocabulary import WorkflowStop

REASON_MAX = 200
"""Characters kept of a failure message or termination reason."""

CLOSED_MESSAGE = "the claim is closed"


def short_reason(text: str | None, fallback: str = "") -> str:
    """The first non-empty line of `text`, at most REASON_MAX characters, NUL-free.

    Failure messages can run on (a validation error lists the values it was given): only
    the first line, which names the error, is kept."""
    for line in (text or "").replace("\x00", "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= REASON_MAX else line[: REASON_MAX - 1] + "…"
    return fallback


def broken_of_row(row: Mapping[str, Any]) -> BrokenWorkflow | None:
    """The mark held by a claims row (`workflow_status`, `workflow_failure`,
    `workflow_failed_at`), if any."""
    if row["workflow_status"] is None:
        return None
    return BrokenWorkflow(
        status=WorkflowStop(row["workflow_status"]),
        reason=row["workflow_failure"] or "",
        at=row["workflow_failed_at"],
    )


def with_mark(view: ClaimView, row: Mapping[str, Any]) -> ClaimView:
    """The claim as listed: its snapshot with the row's mark (the columns are the truth)."""
    broken = broken_of_row(row)
    if broken == view.broken_workflow:
        return view
    return view.model_copy(update={"broken_workflow": broken})


async def mark(pool: asyncpg.Pool, claim_id: str, broken: BrokenWorkflow) -> bool:
    """Mark the claim's row; True if it changed (False: already so marked, or no row)."""
    snapshot = broken.model_dump(mode="json")
    result = await pool.execute(
        """
        UPDATE claims SET workflow_status = $2, workflow_failure = $3, workflow_failed_at = $4,
            snapshot = jsonb_set(snapshot, '{broken_workflow}', $5::jsonb)
        WHERE claim_id = $1 AND (workflow_status IS DISTINCT FROM $2
            OR workflow_failure IS DISTINCT FROM $3 OR workflow_failed_at IS DISTINCT FROM $4
            OR snapshot->'broken_workflow' IS DISTINCT FROM $5::jsonb)
        """,
        claim_id,
        broken.status.value,
        broken.reason,
        broken.at,
        snapshot,
    )
    return result != "UPDATE 0"


async def clear(pool: asyncpg.Pool, claim_id: str) -> bool:
    """Remove the claim's mark (its workflow runs again); True if there was one."""
    result = await pool.execute(
        """
        UPDATE claims SET workflow_status = NULL, workflow_failure = NULL,
            workflow_failed_at = NULL, snapshot = snapshot - 'broken_workflow'
        WHERE claim_id = $1 AND (workflow_status IS NOT NULL OR snapshot ? 'broken_workflow')
        """,
        claim_id,
    )
    return result != "UPDATE 0"


async def marked(
    pool: asyncpg.Pool, claim_ids: list[str] | None = None
) -> dict[str, BrokenWorkflow]:
    """The marked claims (all, or those among `claim_ids`) and their marks."""
    rows = await pool.fetch(
        "SELECT claim_id, workflow_status, workflow_failure, workflow_failed_at FROM claims"
        " WHERE workflow_status IS NOT NULL AND ($1::text[] IS NULL OR claim_id = ANY($1))"
        " ORDER BY claim_id",
        claim_ids,
    )
    return {r["claim_id"]: broken for r in rows if (broken := broken_of_row(r)) is not None}


async def existing(pool: asyncpg.Pool, claim_ids: list[str]) -> set[str]:
    """Which of these claims have a row."""
    rows = await pool.fetch(
        "SELECT claim_id FROM claims WHERE claim_id = ANY($1::text[])", claim_ids
    )
    return {r["claim_id"] for r in rows}


async def broken_workflow_of(pool: asyncpg.Pool, claim_id: str) -> BrokenWorkflow | None:
    return (await marked(pool, [claim_id])).get(claim_id)


async def closed_claim_message(pool: asyncpg.Pool, claim_id: str) -> str:
    """What an action on a claim whose workflow no longer runs answers (409): "the claim's
    workflow was terminated: <reason>" for a marked claim, else "the claim is closed"."""
    broken = await broken_workflow_of(pool, claim_id)
    return broken.message() if broken else CLOSED_MESSAGE

