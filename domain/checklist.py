"""The document checklist per claim type, and the state of each item while it is gathered.

The catalogue is configuration kept as data: which documents exist (DOCUMENTS) and which a
claim type needs (CHECKLISTS). Each checklist is sorted the way the agent works through it:
the documents the user has at home first, then the ones that must be printed at the hospital,
so one look shows what a hospital trip has to cover.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from domain.limits import MAX_CODE
from domain.vocabulary import ClaimType, Model, Text

Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE, pattern=r"^[a-z][a-z0-9_]*$")]


class ChecklistItemSpec(Model):
    """One document in the catalogue, in both languages the people working a claim use."""

    model_config = ConfigDict(frozen=True)

    code: Code
    title_en: str
    title_zh: str
    hospital_document: bool
    """True when it has to be printed (and stamped) at the hospital."""


def _doc(code: str, title_en: str, title_zh: str, hospital: bool) -> ChecklistItemSpec:
    return ChecklistItemSpec(
        code=code, title_en=title_en, title_zh=title_zh, hospital_document=hospital
    )


# --- the catalogue (configuration as data) ----------------------------------------------

DOCUMENTS: dict[str, ChecklistItemSpec] = {
    d.code: d
    for d in (
        # at home, or from the user
        _doc("claim_application_form", "Claim application form", "理赔申请书", False),
        _doc("policy_contract", "Policy contract", "保险合同", False),
        _doc("id_card_copy", "Copy of the insured's ID card", "被保险人身份证复印件", False),
        _doc("bank_card_copy", "Copy of the bank card for the payout", "收款银行卡复印件", False),
        _doc("accident_report", "Accident report (police or employer)", "意外事故证明", False),
        # printed at the hospital
        _doc("diagnosis_certificate", "Diagnosis certificate", "诊断证明书", True),
        _doc("medical_record", "Medical record", "病历", True),
        _doc("examination_reports", "Examination and pathology reports", "检查及病理报告", True),
        _doc("discharge_summary", "Discharge summary", "出院小结", True),
        _doc("itemised_expense_list", "Itemised expense list", "费用明细清单", True),
        _doc("payment_receipts", "Payment receipts (invoices)", "医疗费用发票", True),
    )
}

_IDENTITY = ("claim_application_form", "policy_contract", "id_card_copy", "bank_card_copy")

CHECKLISTS: dict[ClaimType, tuple[str, ...]] = {
    ClaimType.CRITICAL_ILLNESS: (
        *_IDENTITY,
        "diagnosis_certificate",
        "medical_record",
        "examination_reports",
        "discharge_summary",
    ),
    ClaimType.MEDICAL_REIMBURSEMENT: (
        *_IDENTITY,
        "diagnosis_certificate",
        "medical_record",
        "discharge_summary",
        "itemised_expense_list",
        "payment_receipts",
    ),
    ClaimType.HOSPITALIZATION_ALLOWANCE: (
        *_IDENTITY,
        "diagnosis_certificate",
        "medical_record",
        "discharge_summary",
    ),
    ClaimType.ACCIDENT: (
        *_IDENTITY,
        "accident_report",
        "diagnosis_certificate",
        "medical_record",
        "itemised_expense_list",
        "payment_receipts",
    ),
}
"""Document codes per claim type: home documents first, then hospital documents."""

# --- why a document is sent back --------------------------------------------------------

REJECTION_MIXED_RECEIPTS = "receipts mixed with other family members' receipts"
REJECTION_MEDICAL_RECORD_MISSING = "medical record missing"
REJECTION_ILLEGIBLE_COPY = "illegible copy"
REJECTION_MISSING_HOSPITAL_STAMP = "missing hospital stamp"

COMMON_REJECTION_REASONS: tuple[str, ...] = (
    REJECTION_MIXED_RECEIPTS,
    REJECTION_MEDICAL_RECORD_MISSING,
    REJECTION_ILLEGIBLE_COPY,
    REJECTION_MISSING_HOSPITAL_STAMP,
)
"""The reasons agents and consultants pick most; a free-text reason is allowed too."""

REJECTION_REASONS_ZH: dict[str, str] = {
    REJECTION_MIXED_RECEIPTS: "票据与其他家庭成员的票据混在一起",
    REJECTION_MEDICAL_RECORD_MISSING: "缺少病历",
    REJECTION_ILLEGIBLE_COPY: "复印件字迹不清",
    REJECTION_MISSING_HOSPITAL_STAMP: "缺少医院盖章",
}


# --- the checklist of one claim ---------------------------------------------------------


class ChecklistItemStatus(StrEnum):
    MISSING = "missing"
    COLLECTED = "collected"
    REJECTED = "rejected"


class ChecklistItem(Model):
    """One document of one claim's checklist, as the agent and consultant see it."""

    code: Code
    title_en: str
    title_zh: str
    hospital_document: bool
    status: ChecklistItemStatus = ChecklistItemStatus.MISSING
    rejection_reason: Text | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _reason_iff_rejected(self) -> ChecklistItem:
        rejected = self.status is ChecklistItemStatus.REJECTED
        if rejected and not (self.rejection_reason or "").strip():
            raise ValueError("a rejected document needs a reason the agent can act on")
        if not rejected and self.rejection_reason is not None:
            raise ValueError("only a rejected document has a rejection reason")
        return self


def checklist_spec(claim_type: ClaimType) -> list[ChecklistItemSpec]:
    """The catalogue entries a claim type needs, in checklist order."""
    return [DOCUMENTS[code] for code in CHECKLISTS[claim_type]]


def checklist_for(claim_type: ClaimType) -> list[ChecklistItem]:
    """A fresh checklist for a new claim: every item missing (new objects on every call)."""
    return [
        ChecklistItem(
            code=s.code,
            title_en=s.title_en,
            title_zh=s.title_zh,
            hospital_document=s.hospital_document,
        )
        for s in checklist_spec(claim_type)
    ]


def missing_items(items: Iterable[ChecklistItem]) -> list[ChecklistItem]:
    """Everything not yet collected (missing or rejected): sent back to the agent all at once."""
    return [i for i in items if i.status is not ChecklistItemStatus.COLLECTED]
