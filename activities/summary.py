"""The intelligent information summary, compiled from the claim's own data."""

from __future__ import annotations

import structlog
from temporalio import activity

from domain.models import ClaimView
from domain.summary import case_summary

log = structlog.get_logger(__name__)


@activity.defn
async def compile_case_summary(claim: ClaimView) -> str:
    """Deterministic and template-based: a retry compiles the same text."""
    summary = case_summary(claim)
    log.info("case_summary_compiled", claim_id=claim.claim_id, chars=len(summary))
    return summary
