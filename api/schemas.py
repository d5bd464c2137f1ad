"""Response models of the API that are not domain models themselves. The claim query that
both the claim list and saved views speak is the store's (`store/claim_list.py`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel

from domain.limits import MAX_CURSOR, MAX_PAGE
from domain.models import ClaimView, Task, TimelineEntry
from domain.vocabulary import AwareDatetime, Model, Name
from store.claim_list import ClaimListItem, ClaimQuery


class PageParams(Model):
    model_config = ConfigDict(extra="forbid")  # query parameters: FastAPI refuses unknown ones

    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        None, max_length=MAX_CURSOR, description="`next_cursor` of the previous page."
    )


class ClaimListQuery(PageParams, ClaimQuery):
    """`GET /claims`: the claim query plus the page."""


class ClaimsPage(BaseModel):
    items: list[ClaimListItem]
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
