"""Response models of the API that are not domain models themselves."""

from __future__ import annotations

from pydantic import BaseModel

from domain.models import ClaimView, Task, TimelineEntry


class ClaimsPage(BaseModel):
    items: list[ClaimView]
    next_cursor: str | None


class TaskList(BaseModel):
    items: list[Task]


class Timeline(BaseModel):
    claim_id: str
    entries: list[TimelineEntry]


class Problem(BaseModel):
    detail: str
    code: str | None = None
    claim: ClaimView | None = None


class Readiness(BaseModel):
    temporal: str
    postgres: str
