"""Why the workflow rejects a task completion. The API maps each to an HTTP status."""

from __future__ import annotations

from enum import StrEnum


class Rejection(StrEnum):
    NOT_FOUND = "NotFound"  # 404: no such claim
    TASK_NOT_FOUND = "TaskNotFound"  # 404
    TASK_NOT_OPEN = "TaskNotOpen"  # 409: completed already, or cancelled
    CLAIM_CLOSED = "ClaimClosed"  # 409
    DUPLICATE = "Duplicate"  # 409: the change is in place already
    DUPLICATE_CLAIM = "DuplicateClaim"  # 409: another claim holds this policy and incident
    OUTCOME_MISMATCH = "OutcomeMismatch"  # 422: the outcome is not for this kind of task
    NOT_ALLOWED = "NotAllowed"  # 422: the outcome breaks a rule of the current stage
