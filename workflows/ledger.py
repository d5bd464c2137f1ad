"""The claim's ledger: its timeline, and what the read model has not been told yet.

A projection carries what changed since the last one that was written: the new timeline
entries, the changed task rows, the claim's changed columns and the changed top-level
sections of its snapshot. What was sent is forgotten only once it is written, so a
projection cut short (a withdrawal cancels the step that sent it) is sent again with the
next. Projections go one at a time, in order, so a partial write never lands on a newer one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import ClaimChanges, ClaimColumns, ClaimView, Task, TimelineEntry

SYSTEM = "system"
"""The actor of what the claim does by itself (timers, the lifecycle)."""

# The open tasks have rows of their own and the notes are timeline entries: neither is
# repeated in the claim's snapshot.
NOT_IN_SNAPSHOT = frozenset({"tasks", "notes"})


class Ledger:
    def __init__(self, claim_id: str, seq: int = 0) -> None:
        self.claim_id = claim_id
        self.seq = seq
        self._entries: list[TimelineEntry] = []
        self._tasks: dict[str, tuple[int, Task]] = {}  # id -> (change generation, task)
        self._gen = 0
        self._written_columns: dict[str, Any] = {}
        self._written_sections: dict[str, str] = {}
        self.lock = asyncio.Lock()

    def record(self, actor: str, action: str, details: dict[str, Any]) -> TimelineEntry:
        self.seq += 1
        entry = TimelineEntry(
            claim_id=self.claim_id,
            seq=self.seq,
            at=workflow.now(),
            actor=actor,
            action=action,
            details=details,
        )
        self._entries.append(entry)
        return entry

    def touch(self, task: Task) -> None:
        """The task's row changed: the next projection writes it."""
        self._gen += 1
        self._tasks[task.task_id] = (self._gen, task)

    @property
    def pending(self) -> bool:
        return bool(self._entries or self._tasks)

    def forget_written(self) -> None:
        """Send everything again with the next projection (reconcile's resync)."""
        self._written_columns.clear()
        self._written_sections.clear()

    def changes(self, view: ClaimView) -> tuple[ClaimChanges, Any]:
        """The projection to send now, and a receipt to hand to `written` once it is."""
        full = not self._written_columns
        columns = ClaimColumns.of(view).model_dump(mode="json")
        changed_columns = {
            k: v for k, v in columns.items() if full or self._written_columns.get(k) != v
        }
        sections = {
            k: json.dumps(v, sort_keys=True, separators=(",", ":"))
            for k, v in view.model_dump(mode="json", exclude=NOT_IN_SNAPSHOT).items()
        }
        changed_sections = {
            k: s for k, s in sections.items() if full or self._written_sections.get(k) != s
        }
        changes = ClaimChanges(
            claim_id=self.claim_id,
            version=view.version,
            full=full,
            columns=changed_columns,
            snapshot={k: json.loads(s) for k, s in changed_sections.items()},
            tasks=[task for _, task in self._tasks.values()],
            timeline=list(self._entries),
        )
        receipt = (self.seq, self._gen, columns, sections)
        return changes, receipt

    def written(self, receipt: Any) -> None:
        seq, gen, columns, sections = receipt
        self._entries = [e for e in self._entries if e.seq > seq]
        # A task touched again while its row was on the way is sent again.
        self._tasks = {k: (g, t) for k, (g, t) in self._tasks.items() if g > gen}
        self._written_columns = columns
        self._written_sections = sections
