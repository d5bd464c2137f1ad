"""The claim's typed search attributes: `temporal workflow list --query` and the Temporal UI
find claims by stage, city, assignee and overdue too (at most 10 Keyword per namespace on
the embedded server)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CLAIM_STAGE = SearchAttributeKey.for_keyword("ClaimStage")
CLAIM_CITY = SearchAttributeKey.for_keyword("ClaimCity")
CLAIM_ASSIGNEES = SearchAttributeKey.for_keyword_list("ClaimAssignees")
CLAIM_OVERDUE = SearchAttributeKey.for_bool("ClaimOverdue")

ALL = (CLAIM_STAGE, CLAIM_CITY, CLAIM_ASSIGNEES, CLAIM_OVERDUE)
