"""Reconciling the read model with the claim workflows: the comparison and the repair writes.

The workflows are the truth. `claimflow.reconcile` gathers it from Temporal (queries of running
claims, the histories of closed ones) into a `Truth`; here it is compared with what PostgreSQL
holds (`Rows`) by pure functions, and written back where they differ. Nothing here talks to
Temporal.

What is compared, per claim:
- the claim row: present; stage, status, closure and version; for a closed claim the whole
  snapshot (it cannot change any more);
- the checklist: every item's status;
- the tasks: every task the workflow knows has a row with the same status, assignee, due time,
  priority, escalation level and completed_by; no row the workflow does not know; for a closed
  claim no row left 'open';
- the timeline: seq runs 1..version without holes, nothing beyond, nothing twice (the primary
  key makes twice impossible; it is counted anyway);
- the notifications outbox: no id twice (impossible by the primary key; counted), and every
  nudge the timeline records (reminded, escalated, reassigned by the clock, stalled, statutory
  follow-up) has its outbox row.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from domain.models import ClaimProjection, ClaimView, Task, TimelineEntry
from domain.vocabulary import TaskKind, TaskStatus
from store.read_model import write_projection

# --- the kinds of difference ------------------------------------------------------------

CLAIM_MISSING = "claim_missing"
CLAIM_STAGE = "claim_stage"
CLAIM_STATUS = "claim_status"
CLAIM_CLOSURE = "claim_closure"
CLAIM_VERSION = "claim_version"
CLAIM_SNAPSHOT = "claim_snapshot"
CLAIM_UNKNOWN = "claim_unknown"
"""An open claim row no workflow stands behind."""
WORKFLOW_NOT_COMPLETED = "workflow_not_completed"
"""The workflow failed, was terminated or timed out: its claim never closes properly (and
its row is not marked so: store/workflow_health.py)."""
WORKFLOW_MARK_STALE = "workflow_mark_stale"
"""The row is marked as its workflow having stopped, but the workflow runs (again)."""
TRUTH_UNAVAILABLE = "truth_unavailable"
"""The workflow did not answer (no worker on its task queue, Temporal unavailable)."""
CHECKLIST_ITEM = "checklist_item"
TASK_MISSING = "task_missing"
TASK_STATUS = "task_status"
TASK_LEFT_OPEN = "task_left_open"
TASK_ASSIGNEE = "task_assignee"
TASK_DUE_AT = "task_due_at"
TASK_FIELDS = "task_fields"
TASK_UNKNOWN = "task_unknown"
TIMELINE_GAP = "timeline_gap"
TIMELINE_EXTRA = "timeline_extra"
TIMELINE_DUPLICATE = "timeline_duplicate"
NOTIFICATION_MISSING = "notification_missing"
NOTIFICATION_DUPLICATE = "notification_duplicate"

KINDS = (
    CLAIM_MISSING, CLAIM_STAGE, CLAIM_STATUS, CLAIM_CLOSURE, CLAIM_VERSION, CLAIM_SNAPSHOT,
    CLAIM_UNKNOWN, WORKFLOW_NOT_COMPLETED, WORKFLOW_MARK_STALE, TRUTH_UNAVAILABLE,
    CHECKLIST_ITEM, TASK_MISSING, TASK_STATUS, TASK_LEFT_OPEN, TASK_ASSIGNEE, TASK_DUE_AT,
    TASK_FIELDS, TASK_UNKNOWN, TIMELINE_GAP, TIMELINE_EXTRA, TIMELINE_DUPLICATE,
    NOTIFICATION_MISSING, NOTIFICATION_DUPLICATE,
)  # fmt: skip

UNREPAIRABLE = frozenset(
    {CLAIM_UNKNOWN, WORKFLOW_NOT_COMPLETED, TRUTH_UNAVAILABLE, NOTIFICATION_MISSING,
     NOTIFICATION_DUPLICATE, TIMELINE_DUPLICATE}
)  # fmt: skip
"""What a repair cannot fix: there is no truth to write (unknown claim, failed workflow, no
answer), or it is not the projection's to write (the outbox is written by the notify step)."""


@dataclass(frozen=True)
class Difference:
    claim_id: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.claim_id} {self.kind}: {self.detail}"


# --- the two sides ----------------------------------------------------------------------


@dataclass
class Truth:
    """What the workflow says the read model should hold."""

    claim: ClaimView
    tasks: list[Task]
    """Every task of the claim, open or not."""
    running: bool
    timeline: dict[int, TimelineEntry] | None = None
    """Every entry the workflow has projected, where known (from its history)."""
    open_only: bool = False
    """`tasks` are only the open ones (a "Claim" workflow lets closed tasks go): a closed
    task's row is not a difference."""


@dataclass
class Rows:
    """What the read model holds for one claim."""

    claim: dict[str, Any] | None = None
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    """(seq, actor, action, task_id in the details) in seq order, duplicates included."""
    checklist: dict[str, str] = field(default_factory=dict)
    notifications: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(notification_id, kind, task_id)."""


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def load_rows(pool: asyncpg.Pool, claim_ids: list[str]) -> dict[str, Rows]:
    """The read model of these claims, a handful of queries per 500 claims."""
    out = {c: Rows() for c in claim_ids}
    for ids in _chunks(list(dict.fromkeys(claim_ids))):
        async with pool.acquire() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True
        ):
            for r in await conn.fetch(
                "SELECT claim_id, stage, status, closure, version, closed_at, snapshot"
                " FROM claims WHERE claim_id = ANY($1::text[])",
                ids,
            ):
                out[r["claim_id"]].claim = dict(r)
            for r in await conn.fetch(
                "SELECT task_id, claim_id, kind, status, assignee, due_at, priority,"
                " escalation_level, completed_by FROM tasks WHERE claim_id = ANY($1::text[])",
                ids,
            ):
                out[r["claim_id"]].tasks[r["task_id"]] = dict(r)
            for r in await conn.fetch(
                "SELECT claim_id, seq, actor, action, details->>'task_id' AS task_id"
                " FROM timeline WHERE claim_id = ANY($1::text[]) ORDER BY claim_id, seq",
                ids,
            ):
                out[r["claim_id"]].timeline.append(
                    (r["seq"], r["actor"], r["action"], r["task_id"])
                )
            for r in await conn.fetch(
                "SELECT claim_id, code, status FROM checklist_items"
                " WHERE claim_id = ANY($1::text[])",
                ids,
            ):
                out[r["claim_id"]].checklist[r["code"]] = r["status"]
            for r in await conn.fetch(
                "SELECT claim_id, notification_id, kind, task_id FROM notifications"
                " WHERE claim_id = ANY($1::text[])",
                ids,
            ):
                out[r["claim_id"]].notifications.append(
                    (r["notification_id"], r["kind"], r["task_id"])
                )
    return out


async def open_claims_without_workflow(
    pool: asyncpg.Pool, known: set[str], since: Any = None
) -> list[str]:
    """Open claim rows whose id is not among the workflows listed (`known`)."""
    rows = await pool.fetch(
        "SELECT claim_id FROM claims WHERE status = 'open'"
        " AND ($1::timestamptz IS NULL OR updated_at >= $1) ORDER BY claim_id",
        since,
    )
    return [r["claim_id"] for r in rows if r["claim_id"] not in known]


# --- the comparison (pure) --------------------------------------------------------------


def _few(values: list[Any], n: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:n])
    return shown + (f" ... ({len(values)} in all)" if len(values) > n else "")


def _snapshot_fields(stored: Any, truth: ClaimView) -> list[str]:
    """The top-level fields where the stored snapshot differs from the truth."""
    if isinstance(stored, str):
        stored = json.loads(stored)
    try:
        view = ClaimView.model_validate(stored)
    except Exception:  # noqa: BLE001 - an unreadable snapshot differs everywhere
        return ["<unreadable>"]
    return [
        name
        for name in ClaimView.model_fields
        if getattr(view, name) != getattr(truth, name)
    ]


def task_seq(task_id: str) -> int | None:
    """The task's number within its claim (task ids are `<claim>-T<n>`)."""
    _, sep, n = task_id.rpartition("-T")
    return int(n) if sep and n.isdigit() else None


def compare(truth: Truth, rows: Rows) -> list[Difference]:
    """Every way the rows differ from the workflow's truth."""
    view = truth.claim
    cid = view.claim_id
    out: list[Difference] = []

    def diff(kind: str, detail: str) -> None:
        out.append(Difference(cid, kind, detail))

    row = rows.claim
    if row is None:
        diff(CLAIM_MISSING, f"no claims row (workflow: {view.stage.value}, v{view.version})")
        return out
    for kind, column, want in (
        (CLAIM_STAGE, "stage", view.stage.value),
        (CLAIM_STATUS, "status", view.status.value),
        (CLAIM_CLOSURE, "closure", view.closure.value if view.closure else None),
        (CLAIM_VERSION, "version", view.version),
    ):
        if row[column] != want:
            diff(kind, f"{column} is {row[column]!r}, the workflow says {want!r}")
    if not truth.running:
        fields = _snapshot_fields(row["snapshot"], view)
        if fields:
            diff(CLAIM_SNAPSHOT, f"snapshot differs in {_few(fields)}")

    # The checklist.
    want_items = {i.code: i.status.value for i in view.checklist}
    for code in sorted(want_items.keys() | rows.checklist.keys()):
        have, want = rows.checklist.get(code), want_items.get(code)
        if have != want:
            diff(
                CHECKLIST_ITEM,
                f"{code} is {have or 'missing'}, the workflow says {want or 'none'}",
            )

    # The tasks.
    known = {t.task_id: t for t in truth.tasks}
    for task_id, t in known.items():
        r = rows.tasks.get(task_id)
        if r is None:
            diff(TASK_MISSING, f"{task_id} ({t.kind.value}, {t.status.value}) has no row")
            continue
        if r["status"] != t.status.value:
            left_open = not truth.running and r["status"] == TaskStatus.OPEN.value
            diff(
                TASK_LEFT_OPEN if left_open else TASK_STATUS,
                f"{task_id} ({t.kind.value}) is {r['status']}, the workflow says {t.status.value}",
            )
        if r["assignee"] != t.assignee:
            diff(TASK_ASSIGNEE, f"{task_id} is assigned to {r['assignee']!r}, not {t.assignee!r}")
        if r["due_at"] != t.due_at:
            diff(TASK_DUE_AT, f"{task_id} is due {r['due_at']}, not {t.due_at}")
        others = [
            f"{name} {r[name]!r} != {want!r}"
            for name, want in (
                ("priority", t.priority.value),
                ("escalation_level", t.escalation_level),
                ("completed_by", t.completed_by),
            )
            if r[name] != want
        ]
        if others:
            diff(TASK_FIELDS, f"{task_id}: {'; '.join(others)}")
    if truth.open_only:
        # Its closed tasks are the read model's alone: a row missing shows as a hole in the
        # numbering (task ids are issued in sequence), an open row it does not know is
        # unknown while it runs and left open once it has closed (below).
        numbered = {task_seq(t) for t in rows.tasks} | {task_seq(t) for t in known}
        top = max((n for n in numbered if n), default=0)
        holes = [f"{cid}-T{n}" for n in range(1, top + 1) if n not in numbered]
        if holes:
            diff(TASK_MISSING, f"no row for {_few(holes)} (numbered within 1..{top})")
    unknown = sorted(
        t for t in set(rows.tasks) - set(known)
        if not truth.open_only
        or (truth.running and rows.tasks[t]["status"] == TaskStatus.OPEN.value)
    )  # fmt: skip
    if unknown:
        diff(TASK_UNKNOWN, f"rows the workflow does not know: {_few(unknown)}")
    if not truth.running:
        # A closed claim has no open task, whatever the workflow's list holds.
        left = sorted(
            tid for tid, r in rows.tasks.items()
            if r["status"] == TaskStatus.OPEN.value and tid not in known
        )  # fmt: skip
        if left:
            diff(TASK_LEFT_OPEN, f"open rows on a closed claim: {_few(left)}")

    # The timeline.
    seqs = [e[0] for e in rows.timeline]
    twice = sorted(s for s, n in Counter(seqs).items() if n > 1)
    if twice:
        diff(TIMELINE_DUPLICATE, f"seq written twice: {_few(twice)}")
    have = set(seqs)
    holes = [s for s in range(1, view.version + 1) if s not in have]
    if holes:
        lost = " (kept only here: a Claim workflow's history does not hold it)" if truth.open_only else ""
        diff(TIMELINE_GAP, f"missing seq {_few(holes)} of 1..{view.version}{lost}")
    beyond = sorted(s for s in have if s > view.version or s < 1)
    if beyond:
        diff(TIMELINE_EXTRA, f"seq {_few(beyond)} beyond version {view.version}")

    out += compare_notifications(cid, rows)
    return out


def _expected_notifications(rows: Rows) -> Counter[tuple[str, str | None]]:
    """(kind, task_id) of every nudge the projected timeline says was sent."""
    want: Counter[tuple[str, str | None]] = Counter()
    follow_ups = {
        tid for tid, r in rows.tasks.items() if r["kind"] == TaskKind.FOLLOW_UP_INSURER.value
    }
    for _, actor, action, task_id in rows.timeline:
        if action == "task_reminded":
            want["reminder", task_id] += 1
        elif action == "task_escalated":
            want["escalation", task_id] += 1
        elif action == "task_reassigned" and actor == "system":
            want["reassigned", task_id] += 1
        elif action == "claim_stalled":
            want["stalled", None] += 1
        elif action == "task_opened" and task_id in follow_ups:
            want["statutory", None] += 1
    return want


def compare_notifications(claim_id: str, rows: Rows) -> list[Difference]:
    out: list[Difference] = []
    ids = Counter(n[0] for n in rows.notifications)
    twice = sorted(i for i, n in ids.items() if n > 1)
    if twice:
        out.append(Difference(claim_id, NOTIFICATION_DUPLICATE, f"ids twice: {_few(twice)}"))
    have: Counter[tuple[str, str | None]] = Counter(
        (kind, None if kind in ("stalled", "statutory") else task_id)
        for _, kind, task_id in rows.notifications
    )
    for key, n in sorted(_expected_notifications(rows).items(), key=str):
        if have[key] < n:
            kind, task_id = key
            out.append(
                Difference(
                    claim_id,
                    NOTIFICATION_MISSING,
                    f"{n} {kind} nudge(s){' for ' + task_id if task_id else ''} in the timeline,"
                    f" {have[key]} in the outbox",
                )
            )
    return out


# --- repair writes ----------------------------------------------------------------------


async def lower_versions(pool: asyncpg.Pool, claim_id: str, version: int) -> None:
    """Rows newer than the truth would refuse the truth (upserts keep the newest version)."""
    async with pool.acquire() as conn, conn.transaction():
        for table in ("claims", "tasks", "checklist_items"):
            await conn.execute(
                f"UPDATE {table} SET version = $2 WHERE claim_id = $1 AND version > $2",
                claim_id,
                version,
            )


async def write_truth(
    pool: asyncpg.Pool, view: ClaimView, tasks: list[Task], timeline: list[TimelineEntry]
) -> None:
    """The claim row, its checklist, these tasks and timeline entries, as the projection
    writes them (idempotent: existing timeline entries are kept)."""
    await lower_versions(pool, view.claim_id, view.version)
    await write_projection(pool, ClaimProjection(claim=view, tasks=tasks, timeline=timeline))


async def insert_timeline(pool: asyncpg.Pool, entries: list[TimelineEntry]) -> None:
    """Entries missing from the timeline; present ones are left as they are."""
    if not entries:
        return
    await pool.executemany(
        "INSERT INTO timeline (claim_id, seq, at, actor, action, details)"
        " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (claim_id, seq) DO NOTHING",
        [(e.claim_id, e.seq, e.at, e.actor, e.action, e.details) for e in entries],
    )


def unrepairable(truth: Truth) -> frozenset[str]:
    """What a repair cannot fix for this claim. A "Claim" workflow projects by local
    activity, so its history does not hold the timeline: a hole in it stays a hole."""
    return UNREPAIRABLE | {TIMELINE_GAP} if truth.open_only else UNREPAIRABLE


async def rebuild_tasks(pool: asyncpg.Pool, claim_id: str, task_ids: list[str]) -> None:
    """Task rows written again from the timeline, which records each task's opening,
    reassignment and end (a "Claim" workflow lets closed tasks go)."""
    rows = await pool.fetch(
        "SELECT seq, at, actor, action, details FROM timeline WHERE claim_id = $1"
        " AND details->>'task_id' = ANY($2::text[]) ORDER BY seq",
        claim_id,
        task_ids,
    )
    tasks: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = r["details"]
        t = tasks.get(d["task_id"])
        if r["action"] == "task_opened":
            tasks[d["task_id"]] = {"kind": d["kind"], "role": d["role"], "assignee":
                                   d.get("assignee"), "created_at": r["at"], "status": "open",
                                   "completed_at": None, "completed_by": None, "result": None}  # fmt: skip
        elif t is None:
            continue
        elif r["action"] == "task_reassigned":
            t["assignee"] = d.get("new")
        elif r["action"] in ("task_completed", "task_cancelled"):
            t["status"] = "completed" if r["action"] == "task_completed" else "cancelled"
            t["completed_at"] = r["at"]
            t["completed_by"] = r["actor"] if r["action"] == "task_completed" else None
            t["result"] = d.get("result")
    await pool.executemany(
        "INSERT INTO tasks (task_id, claim_id, kind, role, assignee, status, created_at,"
        " completed_at, completed_by, result, version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,0)"
        " ON CONFLICT (task_id) DO NOTHING",
        [
            (tid, claim_id, t["kind"], t["role"], t["assignee"], t["status"], t["created_at"],
             t["completed_at"], t["completed_by"], t["result"])
            for tid, t in tasks.items()
        ],
    )  # fmt: skip


async def delete_tasks(pool: asyncpg.Pool, claim_id: str, task_ids: list[str]) -> None:
    if task_ids:
        await pool.execute(
            "DELETE FROM tasks WHERE claim_id = $1 AND task_id = ANY($2::text[])",
            claim_id,
            task_ids,
        )


async def delete_timeline_beyond(pool: asyncpg.Pool, claim_id: str, version: int) -> None:
    await pool.execute(
        "DELETE FROM timeline WHERE claim_id = $1 AND (seq > $2 OR seq < 1)", claim_id, version
    )
