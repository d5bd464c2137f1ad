"""Which claim holds an incident: one claim per policy and incident (0009_claim_openings)."""

from __future__ import annotations

import hashlib
from datetime import date

import asyncpg


def incident_key(policy_number: str, occurred_on: date) -> str:
    """The incident as a key: its policy (as people write it, in any case and spacing) and
    its date, hashed so the table holds no personal data."""
    policy = "".join(policy_number.split()).upper()
    return hashlib.sha256(f"{policy}|{occurred_on.isoformat()}".encode()).hexdigest()


async def take(pool: asyncpg.Pool, key: str, claim_id: str) -> str:
    """Take the incident for `claim_id`; answers the claim that holds it (`claim_id` itself
    when it was free, or when this is a retry of the same opening)."""
    holder = await pool.fetchval(
        """
        INSERT INTO claim_openings (incident_key, claim_id) VALUES ($1, $2)
        ON CONFLICT (incident_key) DO NOTHING RETURNING claim_id
        """,
        key,
        claim_id,
    )
    if holder is not None:
        return holder
    return await pool.fetchval(
        "SELECT claim_id FROM claim_openings WHERE incident_key = $1", key
    )


async def hand_over(
    pool: asyncpg.Pool, key: str, holder: str, claim_id: str, *, older_than: float
) -> bool:
    """Give the incident to `claim_id` if `holder` took it more than `older_than` seconds ago
    and still holds it (its opening never started a claim); False otherwise."""
    moved = await pool.fetchval(
        "UPDATE claim_openings SET claim_id = $3, opened_at = now()"
        " WHERE incident_key = $1 AND claim_id = $2"
        " AND opened_at < now() - make_interval(secs => $4) RETURNING true",
        key,
        holder,
        claim_id,
        older_than,
    )
    return bool(moved)
