"""Identifiers that are derived, never random, so that retries land on the same thing."""

from __future__ import annotations

import uuid

_CLAIMS = uuid.UUID("6f1c1f4e-2b7a-4c1e-9d55-0c1a1f0e5a11")


def claim_id_for(idempotency_key: str) -> str:
    """One idempotency key, one claim: the same request twice opens one claim."""
    return "CLM-" + uuid.uuid5(_CLAIMS, idempotency_key).hex[:16].upper()


def task_id_for(claim_id: str, seq: int) -> str:
    return f"{claim_id}-T{seq}"


def claim_id_of_task(task_id: str) -> str | None:
    """The claim a task belongs to, read off its id (hex ids never contain "-T")."""
    claim_id, sep, seq = task_id.rpartition("-T")
    if not sep or not claim_id.startswith("CLM-") or not seq.isdigit():
        return None
    return claim_id
