"""The vocabulary of the brief: the words every layer shares, and the base types of money,
names and times."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
)

from domain.limits import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    MAX_DOCUMENT_TEXT,
    MAX_NAME,
    MAX_PHONE,
    MAX_REFERENCE,
    MAX_TEXT,
)

EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(LATEST_YEAR + 1, 1, 1, tzinfo=timezone.utc)
"""Every instant a claim holds is in [EARLIEST, LATEST): an instant outside (year 1, year
9999) cannot be stored or computed with (it overflows at UTC, or past a range's start)."""
_YEARS = f"between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be timezone-aware")
    if not EARLIEST <= value < LATEST:  # aware comparisons never overflow
        raise ValueError(f"must be {_YEARS} (UTC)")
    return value


def within_years(value: datetime) -> bool:
    """An aware instant a claim can hold (what AwareDatetime checks), e.g. in a cursor."""
    return value.tzinfo is not None and EARLIEST <= value < LATEST


def _day(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be {_YEARS}")
    return value


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    return value


_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _plain_digits(value: object) -> object:
    """A number sent as text is written in digits ("95000.00"): no exponent ("1e5" would be
    kept as 1E+5), no spaces or separators. Text that is no number at all is left to the
    decimal's own message."""
    if isinstance(value, str) and not _PLAIN_NUMBER.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        if number.is_finite():
            raise ValueError("must be written in digits, e.g. 95000.00 (no exponent, no spaces)")
    return value


PlainDigits = BeforeValidator(_plain_digits)
"""A decimal that, sent as text, is written in plain digits (money, ratios)."""


def _unsigned(value: Decimal) -> Decimal:
    if value.is_signed():  # "-0", "-0.00": zero, but not an amount anyone writes
        raise ValueError("must not carry a sign")
    return value


Storable = AfterValidator(_storable)
"""Text PostgreSQL can store: any character but NUL. Every text a person sends is checked
with it (after its length): `Annotated[str, Field(max_length=...), Storable]`."""


Money = Annotated[
    Decimal,
    PlainDigits,
    Field(ge=0, max_digits=14, decimal_places=2),
    AfterValidator(_unsigned),
    # What a client sends, exactly (pydantic would document any string): "95000.00" or 95000.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "maxLength": 15},
                {"type": "number", "minimum": 0, "maximum": 999_999_999_999.99, "multipleOf": 0.01},
            ],
            "examples": ["95000.00"],
        },
        mode="validation",
    ),
]
"""Yuan, exact to the fen."""
# China has had no daylight saving since 1991: a fixed +08:00 is exact, and unlike ZoneInfo
# it is allowed inside the workflow sandbox.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

AwareDatetime = Annotated[
    datetime,
    AfterValidator(_aware),
    PlainSerializer(lambda v: v.astimezone(SHANGHAI).isoformat(), return_type=str, when_used="json"),
]
"""A timezone-aware instant, shown to people in Asia/Shanghai time; within the years a claim
can hold (domain.limits.EARLIEST_YEAR..LATEST_YEAR)."""
Day = Annotated[date, AfterValidator(_day)]
"""A calendar day of a claim (an incident, a hospital trip, a filing, a decision): within
the years a claim can hold."""
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), Storable]
Text = Annotated[str, Field(max_length=MAX_TEXT), Storable]

DocumentText = Annotated[str, Field(max_length=MAX_DOCUMENT_TEXT), Storable]
"""What is said of one document: why it was rejected, a note on it."""
Reference = Annotated[str, Field(min_length=1, max_length=MAX_REFERENCE), Storable]
"""A policy number, an insurer's claim reference."""
Phone = Annotated[str, Field(max_length=MAX_PHONE), Storable]


def _deduplicated(values: list) -> list:  # type: ignore[type-arg]
    return list(dict.fromkeys(values))


Deduplicated = AfterValidator(_deduplicated)
"""A list of enum values where each counts once: repeats are dropped, the order is kept."""


class Model(BaseModel):
    """The base of the domain's models, which are all persisted: in Temporal's history
    (workflow and Update inputs, activity results), in query and Update answers, in the read
    model's rows and jsonb snapshots. Read back, a model ignores fields it does not know (and
    a field it lacks takes its default), so adding, renaming or dropping a field never breaks
    a running claim, a replay or an old row.

    Requests are held to the exact fields at the API edge instead: every request body is
    declared `Exact[...]` (api/exact.py), so an unknown field anywhere in it is a 422 naming
    it. Query-parameter models say `extra="forbid"` themselves (FastAPI reads it)."""

    model_config = ConfigDict(extra="ignore", frozen=False, use_enum_values=False)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: object, handler: GetJsonSchemaHandler) -> object:
        """As a request states it (validation mode) the model admits no other fields, as the
        edge holds it; as an answer states it (serialization mode), it is what it holds."""
        json_schema = super().__get_pydantic_json_schema__(schema, handler)  # type: ignore[arg-type]
        if handler.mode == "validation":
            handler.resolve_ref_schema(json_schema)["additionalProperties"] = False
        return json_schema


# --- vocabulary -------------------------------------------------------------------------


class DiscoverySource(StrEnum):
    RETURN_VISIT = "return_visit"
    HOTLINE = "hotline"
    SELF_REPORT = "self_report"


class ClaimType(StrEnum):
    CRITICAL_ILLNESS = "critical_illness"
    MEDICAL_REIMBURSEMENT = "medical_reimbursement"
    HOSPITALIZATION_ALLOWANCE = "hospitalization_allowance"
    ACCIDENT = "accident"


class OfflineNeed(StrEnum):
    """Why a user may need a field agent (one of these must hold for the offline path)."""

    ELDERLY = "elderly"
    EXHAUSTED_AFTER_ILLNESS = "exhausted_after_illness"
    CANNOT_UNDERSTAND_RULES = "cannot_understand_rules"
    CANNOT_COLLECT_DOCUMENTS = "cannot_collect_documents"


class AssistService(StrEnum):
    INFORMATION_SUMMARY = "information_summary"
    INITIAL_LIABILITY_JUDGMENT = "initial_liability_judgment"
    SPEEDING_UP_TIMELINE = "speeding_up_timeline"
    HELP_FOR_ELDERLY = "help_for_elderly"
    DISPUTE_HANDLING = "dispute_handling"
    RIGHTS_PROTECTION = "rights_protection"
    RISK_REVIEW = "risk_review"
    CUSTOM_SERVICE = "custom_service"


class Liability(StrEnum):
    COVERED = "covered"
    NOT_COVERED = "not_covered"
    NEED_MORE_INFORMATION = "need_more_information"


class ServicePath(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class ClaimStage(StrEnum):
    """The lifecycle of one claim case, in the brief's order."""

    DISCOVERY = "discovery"
    TRIAGE = "triage"
    DISPATCH = "dispatch"
    DOCUMENT_GATHERING = "document_gathering"
    VERIFICATION = "verification"
    FILING = "filing"
    PRE_DECISION_EXPLANATION = "pre_decision_explanation"
    INSURER_REVIEW = "insurer_review"
    PAYOUT_EXPLANATION = "payout_explanation"
    DISPUTE = "dispute"
    CLOSED = "closed"


class ClaimStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class WorkflowStop(StrEnum):
    """How a claim's workflow stopped without finishing its lifecycle."""

    FAILED = "failed"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


class Closure(StrEnum):
    PAID_AND_EXPLAINED = "paid_and_explained"
    DENIED_AND_EXPLAINED = "denied_and_explained"
    WITHDRAWN = "withdrawn"
    NOT_COVERED = "not_covered"


class Role(StrEnum):
    CONSULTANT = "consultant"
    FIELD_AGENT = "field_agent"
    MANAGER = "manager"
    ADMIN = "admin"  # runs the system: users, operations; sees everything


class TaskKind(StrEnum):
    """Every human step of the lifecycle; each has its own outcome model."""

    TRIAGE = "triage"
    ASSIGN_FIELD_AGENT = "assign_field_agent"
    ACCEPT_DISPATCH = "accept_dispatch"
    GATHER_DOCUMENTS = "gather_documents"
    VERIFY_DOCUMENTS = "verify_documents"
    CONFIRM_FILING = "confirm_filing"
    FILE_CLAIM = "file_claim"
    EXPLAIN_EXPECTATIONS = "explain_expectations"
    RECORD_INSURER_RESPONSE = "record_insurer_response"
    FOLLOW_UP_INSURER = "follow_up_insurer"
    EXPLAIN_OUTCOME = "explain_outcome"
    RESOLVE_DISPUTE = "resolve_dispute"


class InsurerDecision(StrEnum):
    UNDER_INVESTIGATION = "under_investigation"
    SUPPLEMENTAL_DOCUMENTS_REQUESTED = "supplemental_documents_requested"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    DENIED = "denied"


class DisputeResolution(StrEnum):
    UPHELD = "upheld"  # the insurer keeps its decision; explained to the user again
    REVISED = "revised"  # the insurer revised its award
    DROPPED = "dropped"  # the user accepts after all


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
