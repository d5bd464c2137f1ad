"""Response models of the API that are not domain models themselves, and the claim query
that both the claim list and saved views speak."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, RootModel, StringConstraints, model_validator

from domain.limits import MAX_CURSOR, MAX_PAGE, MAX_SEARCH
from domain.models import ClaimView, Task, TimelineEntry
from domain.vocabulary import (
    AwareDatetime,
    ClaimStage,
    ClaimStatus,
    ClaimType,
    DiscoverySource,
    Model,
    Name,
    Storable,
)
from store.read_model import ClaimFilter, ClaimSort, SortOrder

SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SEARCH), Storable
]


class ClaimQuery(Model):
    """What a manager searches claims by, and in which order.

    The one model behind `GET /claims` and every saved view: a view can only hold a filter
    the list understands (unknown fields are rejected). Ranges include their start and
    exclude their end; all times must carry their time zone."""

    stage: ClaimStage | None = None
    status: ClaimStatus | None = None
    city: Name | None = None
    consultant: Name | None = None
    field_agent: Name | None = None
    source: DiscoverySource | None = None
    claim_type: ClaimType | None = None
    overdue: bool | None = Field(None, description="Has an open task past its due time.")
    stalled: bool | None = Field(None, description="Flagged as stalled: no progress for days.")
    broken: bool | None = Field(
        None,
        description="Its workflow stopped without closing the claim (failed, terminated, timed"
        " out, canceled): `broken_workflow` says how and why; nothing can act on it.",
    )
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    updated_from: AwareDatetime | None = None
    updated_to: AwareDatetime | None = None
    q: SearchText | None = Field(
        None, description="Part of the policyholder's name or of the policy number, any case."
    )
    sort: ClaimSort = ClaimSort.CREATED_AT
    order: SortOrder = SortOrder.DESC

    @model_validator(mode="after")
    def _ranges_run_forward(self) -> ClaimQuery:
        for start, end in (
            (self.created_from, self.created_to),
            (self.updated_from, self.updated_to),
        ):
            if start is not None and end is not None and start > end:
                raise ValueError("a range must not end before it starts")
        return self

    def to_filter(self) -> ClaimFilter:
        return ClaimFilter(
            stage=self.stage.value if self.stage else None,
            status=self.status.value if self.status else None,
            city=self.city,
            consultant=self.consultant,
            field_agent=self.field_agent,
            source=self.source.value if self.source else None,
            claim_type=self.claim_type.value if self.claim_type else None,
            overdue=self.overdue,
            stalled=self.stalled,
            broken=self.broken,
            created_from=self.created_from,
            created_to=self.created_to,
            updated_from=self.updated_from,
            updated_to=self.updated_to,
            q=self.q,
            sort=self.sort,
            order=self.order,
        )


class PageParams(Model):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        None, max_length=MAX_CURSOR, description="`next_cursor` of the previous page."
    )


class ClaimListQuery(PageParams, ClaimQuery):
    """`GET /claims`: the claim query plus the page."""


class ClaimsPage(BaseModel):
    items: list[ClaimView]
    next_cursor: str | None
    total: int = Field(description="All claims matching the query, on every page.")


class TaskList(BaseModel):
    items: list[Task]


class Timeline(BaseModel):
    claim_id: str
    entries: list[TimelineEntry]


class Problem(BaseModel):
    detail: str
    code: str | None = None
    claim: ClaimView | None = None


class FieldError(BaseModel):
    """One input that does not fit: where it is and why."""

    loc: list[str | int] = Field(examples=[["body", "policy", "sum_insured"]])
    msg: str = Field(examples=["Input should be greater than or equal to 0"])
    type: str


class Invalid(BaseModel):
    """The request does not fit its schema: every field that does not, and why."""

    detail: list[FieldError]


class Unprocessable(RootModel[Invalid | Problem]):
    """422: fields that do not fit (`detail` lists them), or a request that breaks a rule of
    the claim, the query or the Idempotency-Key (`detail` says which)."""


class Readiness(BaseModel):
    temporal: str
    postgres: str


# --- saved views ------------------------------------------------------------------------


class SavedViewInput(Model):
    team: Name
    name: Name
    filters: ClaimQuery = ClaimQuery()
    created_by: Name


class SavedView(SavedViewInput):
    view_id: str
    created_at: AwareDatetime


class SavedViews(BaseModel):
    items: list[SavedView]
