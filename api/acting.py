"""Who acted is the signed-in user.

A request that changes a claim does not say who made the change: the API writes the signed-in
user into the workflow's input (`completed_by`, `author`, `paused_by`, ...). The field stays in
the request for one case only, said explicitly: a manager recording what someone else did
(e.g. the agent who phoned in a visit) names him. Anyone else may name only himself, which is
what older clients send; naming another person is 403.

Each request model below is its domain model with the actor made optional; `acted` turns the
request into the domain model with the actor filled in.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, Field

from api.auth import Principal, check_acting_as
from api.schemas import SavedViewInput
from domain.models import (
    ClockPause,
    ClockResume,
    NoteInput,
    Reassignment,
    TaskChange,
    TaskCompletion,
    Withdrawal,
)
from domain.outcomes import ChecklistProgress
from domain.vocabulary import Name

M = TypeVar("M", bound=BaseModel)

Actor = Annotated[
    Name | None,
    Field(
        description=(
            "Leave it out: the signed-in user is who acted. Only a manager recording what "
            "someone else did names that person here."
        )
    ),
]


def acted(user: Principal, request: BaseModel, model: type[M], field: str) -> M:
    """The request as the domain takes it, `field` the person who acted: the signed-in user,
    or whom a manager named (403 for anyone else naming another person)."""
    named = getattr(request, field)
    actor = user.user_id if named is None else named
    check_acting_as(user, actor)
    # Validated already, field by field: built without validating it all again.
    return model.model_construct(
        request.model_fields_set | {field}, **{**dict(request), field: actor}
    )


class CompletionRequest(TaskCompletion):
    completed_by: Actor = None  # type: ignore[assignment]


class ReassignmentRequest(Reassignment):
    reassigned_by: Actor = None  # type: ignore[assignment]


class TaskChangeRequest(TaskChange):
    changed_by: Actor = None  # type: ignore[assignment]


class PauseRequest(ClockPause):
    paused_by: Actor = None  # type: ignore[assignment]


class ResumeRequest(ClockResume):
    resumed_by: Actor = None  # type: ignore[assignment]


class NoteRequest(NoteInput):
    author: Actor = None  # type: ignore[assignment]


class WithdrawalRequest(Withdrawal):
    recorded_by: Actor = None  # type: ignore[assignment]


class ProgressRequest(ChecklistProgress):
    recorded_by: Actor = None  # type: ignore[assignment]


class SavedViewRequest(SavedViewInput):
    created_by: Actor = None  # type: ignore[assignment]
