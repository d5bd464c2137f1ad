"""The history budget (`domain/limits.py`): every input a claim can receive is bounded, a
list over its limit is refused naming the field and the limit, enum lists count each value
once, and the largest request the limits allow stays under the payload budget."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from domain import limits
from domain.models import (
    ClaimOpening,
    ClockPause,
    ClockResume,
    NoteInput,
    Policyholder,
    Reassignment,
    TaskChange,
    TaskCompletion,
    Withdrawal,
)
from domain.outcomes import (
    ChecklistProgress,
    ClaimFiled,
    DocumentsVerified,
    HospitalTrip,
    InsurerResponse,
    TriageDecision,
)
from domain.payout import ExpenseItem
from domain.vocabulary import AssistService, OfflineNeed

REQUESTS: list[type[BaseModel]] = [
    ClaimOpening,
    TaskCompletion,
    ChecklistProgress,
    NoteInput,
    Withdrawal,
    ClockPause,
    ClockResume,
    Reassignment,
    TaskChange,
]
"""Every body a claim receives through the API (the insurer's webhook carries an
InsurerResponse, one of the outcomes of TaskCompletion)."""

ASCII_CODE = r"^[a-z][a-z0-9_]*$"
"""The pattern of a document code (`domain.checklist.Code`): one byte a character."""

WORST_CHAR_BYTES = 6
"""The most one character of text can take in JSON: a control character is written \\u001f."""


def largest_json(schema: dict[str, Any], defs: dict[str, Any]) -> int:
    """An upper bound, in bytes, of any JSON document the schema admits, taking every text
    at its longest and every character at its widest. KeyError for a list or text without a
    bound: then there is no upper bound."""
    if "$ref" in schema:
        return largest_json(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return max(largest_json(s, defs) for s in schema[key])
    if "const" in schema:
        return len(json.dumps(schema["const"]))
    if "enum" in schema:
        return max(len(json.dumps(v)) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        assert schema.get("additionalProperties") is False, schema
        return 2 + sum(
            len(json.dumps(name)) + 2 + largest_json(value, defs)
            for name, value in schema["properties"].items()
        )
    if kind == "array":
        return 2 + schema["maxItems"] * (largest_json(schema["items"], defs) + 1)
    if kind == "string":
        if schema.get("format") in ("date", "date-time"):
            return 2 + 40
        if schema.get("pattern") == ASCII_CODE:
            return 2 + schema["maxLength"]
        return 2 + schema["maxLength"] * WORST_CHAR_BYTES
    if kind in ("integer", "number"):
        return 32
    if kind in ("boolean", "null"):
        return 5
    raise AssertionError(f"no bound for {schema}")


@pytest.mark.parametrize("model", REQUESTS, ids=lambda m: m.__name__)
def test_the_largest_request_fits_the_budget(model: type[BaseModel]):
    schema = TypeAdapter(model).json_schema(mode="validation")
    assert largest_json(schema, schema.get("$defs", {})) < limits.MAX_REQUEST_PAYLOAD_BYTES


def test_the_bound_sees_an_unbounded_list():
    class Unbounded(BaseModel, extra="forbid"):
        lines: list[int]

    schema = TypeAdapter(Unbounded).json_schema(mode="validation")
    with pytest.raises(KeyError, match="maxItems"):
        largest_json(schema, {})


def test_the_largest_filing_is_under_the_budget_as_temporal_carries_it():
    """A real filing at every limit, in the characters that take most room, serialized as
    the pydantic data converter does."""
    widest = "\x1f" * limits.MAX_EXPENSE_TEXT
    # The widest amounts whose total still fits a money column (domain.limits.MAX_AMOUNT).
    line = {"description": widest, "amount": "3333333333.33", "excluded_reason": widest}
    filing = ClaimFiled.model_validate(
        {
            "insurer_claim_reference": "R" * limits.MAX_REFERENCE,
            "filed_on": "2026-03-01",
            "expenses": [line] * limits.MAX_EXPENSE_LINES,
        }
    )
    size = len(filing.model_dump_json())
    schema = TypeAdapter(TaskCompletion).json_schema(mode="validation")
    assert size < largest_json(schema, schema["$defs"]) < limits.MAX_REQUEST_PAYLOAD_BYTES


def test_enum_lists_can_hold_every_value_once():
    assert limits.MAX_NEEDS == len(OfflineNeed)
    assert limits.MAX_ASSIST_SERVICES == len(AssistService)
    holder = Policyholder(name="Wang", city="Beijing", needs=list(OfflineNeed))
    assert holder.needs == list(OfflineNeed)


def test_repeated_enum_values_count_once_in_their_order():
    holder = Policyholder.model_validate(
        {
            "name": "Wang",
            "city": "Beijing",
            "needs": ["elderly", "cannot_collect_documents", "elderly"],
        }
    )
    assert holder.needs == [OfflineNeed.ELDERLY, OfflineNeed.CANNOT_COLLECT_DOCUMENTS]
    triage = TriageDecision.model_validate(
        {
            "liability": "need_more_information",
            "assist_services": ["risk_review", "risk_review", "help_for_elderly"],
        }
    )
    assert triage.assist_services == [AssistService.RISK_REVIEW, AssistService.HELP_FOR_ELDERLY]


def _update(i: int) -> dict[str, Any]:
    return {"code": f"doc_{i}", "status": "missing"}


OVER: list[tuple[type[BaseModel], dict[str, Any], tuple[str | int, ...], int]] = [
    (
        Policyholder,
        {"name": "W", "city": "B", "needs": ["elderly"] * (limits.MAX_NEEDS + 1)},
        ("needs",),
        limits.MAX_NEEDS,
    ),
    (
        TriageDecision,
        {"liability": "need_more_information", "assist_services": ["risk_review"] * 9},
        ("assist_services",),
        limits.MAX_ASSIST_SERVICES,
    ),
    (
        ClaimFiled,
        {
            "insurer_claim_reference": "EL-1",
            "filed_on": "2026-03-01",
            "expenses": [{"description": "Stay", "amount": "1"}] * (limits.MAX_EXPENSE_LINES + 1),
        },
        ("expenses",),
        limits.MAX_EXPENSE_LINES,
    ),
    (
        ChecklistProgress,
        {
            "recorded_by": "a",
            "items": [_update(i) for i in range(limits.MAX_CHECKLIST_UPDATES + 1)],
        },
        ("items",),
        limits.MAX_CHECKLIST_UPDATES,
    ),
    (
        ChecklistProgress,
        {
            "recorded_by": "a",
            "hospital_trips": [{"hospital": "H", "on": "2026-01-05"}]
            * (limits.MAX_HOSPITAL_TRIPS_PER_REQUEST + 1),
        },
        ("hospital_trips",),
        limits.MAX_HOSPITAL_TRIPS_PER_REQUEST,
    ),
    (
        HospitalTrip,
        {"hospital": "H", "on": "2026-01-05", "printed": ["invoice"] * (limits.MAX_CODES + 1)},
        ("printed",),
        limits.MAX_CODES,
    ),
    (
        InsurerResponse,
        {
            "decision": "supplemental_documents_requested",
            "requested_documents": ["invoice"] * (limits.MAX_CODES + 1),
        },
        ("requested_documents",),
        limits.MAX_CODES,
    ),
    (
        DocumentsVerified,
        {
            "complete": False,
            "sent_back": [_update(i) for i in range(limits.MAX_CHECKLIST_UPDATES + 1)],
        },
        ("sent_back",),
        limits.MAX_CHECKLIST_UPDATES,
    ),
]


@pytest.mark.parametrize(
    ("model", "data", "loc", "limit"), OVER, ids=[f"{m.__name__}.{loc[0]}" for m, _, loc, _ in OVER]
)
def test_an_over_limit_list_names_the_field_and_the_limit(
    model: type[BaseModel], data: dict[str, Any], loc: tuple[str | int, ...], limit: int
):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    errors = {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}
    assert errors == {
        loc: f"List should have at most {limit} items after validation, not {limit + 1}"
    }


@pytest.mark.parametrize(
    ("model", "data", "loc", "limit"),
    [
        (
            NoteInput,
            {"author": "a", "text": "x" * (limits.MAX_NOTE_CHARS + 1)},
            ("text",),
            limits.MAX_NOTE_CHARS,
        ),
        (
            ExpenseItem,
            {"description": "x" * (limits.MAX_EXPENSE_TEXT + 1), "amount": "1"},
            ("description",),
            limits.MAX_EXPENSE_TEXT,
        ),
        (
            Policyholder,
            {"name": "x" * (limits.MAX_NAME + 1), "city": "B"},
            ("name",),
            limits.MAX_NAME,
        ),
    ],
)
def test_an_over_limit_text_names_the_field_and_the_limit(
    model: type[BaseModel], data: dict[str, Any], loc: tuple[str, ...], limit: int
):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    errors = {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}
    assert errors == {loc: f"String should have at most {limit} characters"}


def test_a_filing_at_its_limits_is_accepted():
    filing = ClaimFiled(
        insurer_claim_reference="EL-1",
        filed_on=date(2026, 3, 1),
        expenses=[ExpenseItem(description="床" * limits.MAX_EXPENSE_TEXT, amount=Decimal(1))]
        * limits.MAX_EXPENSE_LINES,
    )
    assert len(filing.expenses) == limits.MAX_EXPENSE_LINES
