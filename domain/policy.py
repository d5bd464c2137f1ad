"""The service policy a claim runs under, snapshotted into the claim when it opens.

Snapshotting keeps the workflow deterministic (it never reads configuration itself) and
means a claim keeps the rules it was opened under.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from domain.vocabulary import TaskKind

DEFAULT_SLA: dict[TaskKind, timedelta] = {
    TaskKind.TRIAGE: timedelta(days=1),
    TaskKind.ASSIGN_FIELD_AGENT: timedelta(hours=4),
    TaskKind.ACCEPT_DISPATCH: timedelta(days=1),
    TaskKind.GATHER_DOCUMENTS: timedelta(days=7),
    TaskKind.VERIFY_DOCUMENTS: timedelta(days=2),
    TaskKind.CONFIRM_FILING: timedelta(days=2),
    TaskKind.FILE_CLAIM: timedelta(days=2),
    TaskKind.EXPLAIN_EXPECTATIONS: timedelta(days=3),
    TaskKind.RECORD_INSURER_RESPONSE: timedelta(days=7),
    TaskKind.EXPLAIN_OUTCOME: timedelta(days=3),
    TaskKind.RESOLVE_DISPUTE: timedelta(days=14),
}
"""How long each human step may take before it is overdue."""


class ServicePolicy(BaseModel):
    offline_cities: list[str] = ["Beijing"]
    sla: dict[TaskKind, timedelta] = DEFAULT_SLA

    def due_in(self, kind: TaskKind) -> timedelta | None:
        return self.sla.get(kind)
