"""Proof that nothing was doubled (or lost): tasks, timeline entries and notifications of a
run, read back from PostgreSQL and from the workers' logs (each notification the log channel
sends is one `notification` log line)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg

from bench.stack import Proc


async def check(
    dsn: str,
    claim_ids: list[str],
    completions: list[int],
    waiting_ids: list[str],
    per_waiting: int,
    workers: list[Proc],
    wait: float = 0,
) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        expected_notifications = len(waiting_ids) * per_waiting
        deadline = time.monotonic() + wait
        while True:  # the waiting claims' clocks may still be firing
            found = await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE claim_id = ANY($1)"
                " AND delivered_at IS NOT NULL",
                waiting_ids,
            )
            if found >= expected_notifications or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        everyone = claim_ids + waiting_ids

        tasks = {
            r["claim_id"]: r
            for r in await conn.fetch(
                "SELECT claim_id, count(*) AS n, count(DISTINCT task_id) AS ids,"
                " count(*) FILTER (WHERE status = 'completed') AS completed"
                " FROM tasks WHERE claim_id = ANY($1) GROUP BY claim_id",
                claim_ids,
            )
        }
        tasks_expected = sum(completions)
        tasks_found = sum(r["n"] for r in tasks.values())
        tasks_doubled = sum(
            max(0, tasks[c]["n"] - want) if c in tasks else 0
            for c, want in zip(claim_ids, completions, strict=True)
        )
        tasks_missing = sum(
            max(0, want - (tasks[c]["completed"] if c in tasks else 0))
            for c, want in zip(claim_ids, completions, strict=True)
        )
        open_twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT claim_id, kind FROM tasks WHERE claim_id = ANY($1)"
            " AND status = 'open' GROUP BY 1, 2 HAVING count(*) > 1) d",
            everyone,
        )

        timeline = await conn.fetch(
            "SELECT claim_id, count(*) AS n, max(seq) AS last FROM timeline"
            " WHERE claim_id = ANY($1) GROUP BY claim_id",
            everyone,
        )
        timeline_entries = sum(r["n"] for r in timeline)
        timeline_gaps = sum(r["last"] - r["n"] for r in timeline)
        timeline_doubled = await conn.fetchval(
            """
            SELECT coalesce(sum(n - 1), 0) FROM (
                SELECT count(*) AS n FROM timeline
                 WHERE claim_id = ANY($1)
                   AND action IN ('task_opened', 'task_completed', 'task_reminded',
                                  'task_escalated', 'task_overdue', 'claim_opened',
                                  'claim_closed', 'summary_compiled', 'dispatch_accepted')
                 GROUP BY claim_id, action, details->>'task_id', details->>'to'
                HAVING count(*) > 1) d
            """,
            everyone,
        )
        per_claim = Counter(r["n"] for r in timeline if r["claim_id"] in set(claim_ids))

        rows = await conn.fetch(
            "SELECT notification_id, claim_id, delivered_at, attempts FROM notifications"
            " WHERE claim_id = ANY($1)",
            everyone,
        )
    finally:
        await conn.close()

    sent = Counter(
        e.get("notification_id")
        for w in workers
        for e in w.log_events()
        if e.get("event") == "notification"
    )
    ids = {r["notification_id"] for r in rows}
    by_waiting = Counter(r["claim_id"] for r in rows if r["claim_id"] in set(waiting_ids))
    result = {
        "tasks_expected": tasks_expected,
        "tasks_found": tasks_found,
        "tasks_doubled": tasks_doubled,
        "tasks_missing": tasks_missing,
        "tasks_open_twice": open_twice,
        "timeline_entries": timeline_entries,
        "timeline_entries_per_lifecycle_claim": sorted(per_claim),
        "timeline_gaps": timeline_gaps,
        "timeline_doubled": timeline_doubled,
        "notifications_expected": expected_notifications,
        "notifications_found": len(rows),
        "notifications_of_waiting_claims": sum(by_waiting.values()),
        "notifications_undelivered": sum(1 for r in rows if r["delivered_at"] is None),
        "notifications_sent": sum(sent[i] for i in ids),
        "notifications_sent_twice": sum(1 for i in ids if sent[i] > 1),
        "notifications_not_sent": sum(1 for i in ids if sent[i] == 0),
        "notifications_sent_per_worker": [
            sum(1 for e in w.log_events() if e.get("event") == "notification") for w in workers
        ],
    }
    result["ok"] = (
        tasks_doubled == 0
        and tasks_missing == 0
        and open_twice == 0
        and timeline_gaps == 0
        and timeline_doubled == 0
        and result["notifications_of_waiting_claims"] == expected_notifications
        and result["notifications_undelivered"] == 0
        and result["notifications_sent_twice"] == 0
        and result["notifications_not_sent"] == 0
    )
    return result


def rows(c: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("tasks: expected / found", f"{c['tasks_expected']} / {c['tasks_found']}"),
        ("tasks doubled / missing / open twice",
         f"{c['tasks_doubled']} / {c['tasks_missing']} / {c['tasks_open_twice']}"),
        ("timeline entries (per lifecycle claim)",
         f"{c['timeline_entries']} ({', '.join(map(str, c['timeline_entries_per_lifecycle_claim']))})"),
        ("timeline doubled / gaps", f"{c['timeline_doubled']} / {c['timeline_gaps']}"),
        ("notifications: expected / written / sent",
         f"{c['notifications_expected']} / {c['notifications_of_waiting_claims']} / {c['notifications_sent']}"),
        ("notifications sent twice / not sent",
         f"{c['notifications_sent_twice']} / {c['notifications_not_sent']}"),
        ("notifications sent per worker", " / ".join(map(str, c["notifications_sent_per_worker"]))),
        ("nothing doubled or lost", c["ok"]),
    ]
