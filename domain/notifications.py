"""Nudges and alerts: what is sent, to whom, and why. Each has a deterministic id, so the
outbox holds it once and it is delivered once, however often a step is retried."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from domain.vocabulary import AwareDatetime, Model, Role


class NotificationKind(StrEnum):
    REMINDER = "reminder"  # the assignee, before or at the due time
    ESCALATION = "escalation"  # the team lead, then the manager, after the due time
    REASSIGNED = "reassigned"  # nobody acted: the task went back to its role's pool
    STALLED = "stalled"  # no progress for too long: the manager
    STATUTORY = "statutory"  # an insurer's legal deadline is near or past


class Notification(Model):
    notification_id: str
    claim_id: str
    task_id: str | None = None
    kind: NotificationKind
    recipient: str | None
    role: Role | None = None
    message: str
    payload: dict[str, Any] = {}
    created_at: AwareDatetime
