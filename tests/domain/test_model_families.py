"""Persisted models ignore what they do not know; requests are held to their exact fields.

A claim's models are read back from Temporal's history and the read model long after they
were written, by a later version of the code: a field added there, or one dropped here, must
not break the claim. A request with a field the API does not know is refused at the edge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from api.exact import Exact
from domain.models import ClaimOpening, ClaimStart, ClaimView, Task, TaskCompletion
from domain.policy import ServicePolicy
from domain.vocabulary import ClaimStage, ClaimStatus, Role, TaskKind
from tests.support.claims import wang_opening

AT = datetime(2026, 10, 1, 9, tzinfo=UTC)


def _task() -> Task:
    return Task(
        task_id="TSK-1", claim_id="CLM-1", kind=TaskKind.TRIAGE, role=Role.CONSULTANT,
        assignee="xiao.gao", created_at=AT,
    )


def _view() -> ClaimView:
    return ClaimView(
        claim_id="CLM-1", stage=ClaimStage.TRIAGE, status=ClaimStatus.OPEN,
        opening=ClaimOpening.model_validate(wang_opening()), tasks=[_task()],
        created_at=AT, updated_at=AT, version=3,
    )


def test_a_stored_claim_with_unknown_fields_and_missing_defaults_loads():
    stored = _view().model_dump(mode="json")
    # Written by a later version: new fields at every depth.
    stored["risk_score"] = 7
    stored["opening"]["policyholder"]["wechat_id"] = "wang-78"
    stored["tasks"][0]["sla_class"] = "gold"
    stored["payout"]["currency"] = "CNY"
    # Written by an earlier version: fields added since (with defaults) are missing.
    for dropped in ("notes", "statutory_deadlines", "paused_since", "hospital_trips"):
        del stored[dropped]
    del stored["tasks"][0]["deadline_round"]
    del stored["tasks"][0]["escalation_level"]

    view = ClaimView.model_validate(stored)
    assert view == _view()
    assert "risk_score" not in view.model_dump()
    # As Temporal's converter reads it (JSON, by type).
    assert TypeAdapter(ClaimView).validate_json(view.model_dump_json()) == view


def test_a_stored_task_with_unknown_fields_and_missing_defaults_loads():
    stored = _task().model_dump(mode="json")
    stored["claimed_by_robot"] = False
    for dropped in ("priority", "deadline_round", "data", "result", "status"):
        del stored[dropped]
    assert Task.model_validate(stored) == _task()


def test_a_workflow_input_from_an_older_or_newer_version_loads():
    start = ClaimStart(
        claim_id="CLM-1", opening=ClaimOpening.model_validate(wang_opening()),
        policy=ServicePolicy(),
    )
    stored = start.model_dump(mode="json")
    stored["policy"]["calendar"]["lunch_break"] = "12:00"
    stored["opening"]["incident"]["ward"] = "neurology"
    assert ClaimStart.model_validate(stored) == start


def test_a_request_with_an_unknown_field_is_refused_where_it_is():
    body = {
        "completed_by": "xiao.gao",
        "urgent": True,
        "outcome": {"kind": "triage", "liability": "not_covered", "explanation": "e",
                    "confidence": 0.9},
    }
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(Exact[TaskCompletion]).validate_python(body)
    assert {(e["type"], e["loc"]) for e in refused.value.errors()} == {
        ("extra_forbidden", ("urgent",)),
        ("extra_forbidden", ("outcome", "triage", "confidence")),
    }
    # The same body, read back as a persisted model, is simply what it knows.
    assert TaskCompletion.model_validate(body).outcome.kind is TaskKind.TRIAGE
    # A body with only known fields is the model itself, not a stand-in.
    del body["urgent"], body["outcome"]["confidence"]
    ok = TypeAdapter(Exact[TaskCompletion]).validate_python(body)
    assert type(ok) is TaskCompletion and ok == TaskCompletion.model_validate(body)


def test_an_opening_with_an_unknown_nested_field_is_refused():
    opening = wang_opening()
    opening["policyholder"]["shoe_size"] = 42
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(Exact[ClaimOpening]).validate_python(opening)
    assert [(e["type"], e["loc"]) for e in refused.value.errors()] == [
        ("extra_forbidden", ("policyholder", "shoe_size"))
    ]
