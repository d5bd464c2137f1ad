import pytest
from pydantic import ValidationError

from domain.checklist import (
    CHECKLISTS,
    COMMON_REJECTION_REASONS,
    DOCUMENTS,
    REJECTION_MEDICAL_RECORD_MISSING,
    REJECTION_MIXED_RECEIPTS,
    REJECTION_REASONS_ZH,
    ChecklistItem,
    ChecklistItemStatus,
    checklist_for,
    checklist_spec,
    missing_items,
)
from domain.vocabulary import ClaimType


@pytest.mark.parametrize("claim_type", list(ClaimType))
def test_every_claim_type_has_a_checklist(claim_type: ClaimType) -> None:
    items = checklist_for(claim_type)
    codes = [i.code for i in items]
    assert codes
    assert len(codes) == len(set(codes))
    assert all(i.status is ChecklistItemStatus.MISSING for i in items)
    assert all(i.title_en and i.title_zh for i in items)
    assert {"id_card_copy", "bank_card_copy", "claim_application_form"} <= set(codes)
    assert any(i.hospital_document for i in items)


@pytest.mark.parametrize("claim_type", list(ClaimType))
def test_home_documents_come_before_hospital_documents(claim_type: ClaimType) -> None:
    flags = [s.hospital_document for s in checklist_spec(claim_type)]
    assert flags == sorted(flags)


def test_catalogue_is_consistent() -> None:
    assert set(CHECKLISTS) == set(ClaimType)
    for codes in CHECKLISTS.values():
        assert set(codes) <= set(DOCUMENTS)
    for code, spec in DOCUMENTS.items():
        assert spec.code == code


def test_medical_reimbursement_needs_the_hospital_papers() -> None:
    items = checklist_for(ClaimType.MEDICAL_REIMBURSEMENT)
    hospital = {i.code for i in items if i.hospital_document}
    assert {
        "medical_record",
        "discharge_summary",
        "itemised_expense_list",
        "payment_receipts",
        "diagnosis_certificate",
    } <= hospital
    assert not DOCUMENTS["id_card_copy"].hospital_document


def test_accident_needs_an_accident_report() -> None:
    codes = [i.code for i in checklist_for(ClaimType.ACCIDENT)]
    assert "accident_report" in codes
    assert "accident_report" not in [i.code for i in checklist_for(ClaimType.CRITICAL_ILLNESS)]


def test_checklist_for_returns_fresh_copies() -> None:
    first = checklist_for(ClaimType.MEDICAL_REIMBURSEMENT)
    first[0].status = ChecklistItemStatus.COLLECTED
    first.pop()
    second = checklist_for(ClaimType.MEDICAL_REIMBURSEMENT)
    assert second[0].status is ChecklistItemStatus.MISSING
    assert len(second) == len(CHECKLISTS[ClaimType.MEDICAL_REIMBURSEMENT])


def test_specs_are_frozen() -> None:
    with pytest.raises(ValidationError):
        DOCUMENTS["medical_record"].hospital_document = False  # type: ignore[misc]


def test_rejection_reasons_have_chinese() -> None:
    assert set(COMMON_REJECTION_REASONS) == set(REJECTION_REASONS_ZH)
    assert REJECTION_MIXED_RECEIPTS == "receipts mixed with other family members' receipts"
    assert REJECTION_REASONS_ZH[REJECTION_MEDICAL_RECORD_MISSING] == "缺少病历"


def test_rejection_needs_a_reason_and_only_rejection_has_one() -> None:
    base = checklist_for(ClaimType.MEDICAL_REIMBURSEMENT)[0].model_dump()
    with pytest.raises(ValidationError):
        ChecklistItem(**{**base, "status": "rejected"})
    with pytest.raises(ValidationError):
        ChecklistItem(**{**base, "status": "rejected", "rejection_reason": "  "})
    with pytest.raises(ValidationError):
        ChecklistItem(**{**base, "status": "collected", "rejection_reason": "illegible copy"})
    item = ChecklistItem(**{**base, "status": "rejected", "rejection_reason": "illegible copy"})
    assert item.status is ChecklistItemStatus.REJECTED


def test_missing_items_returns_missing_and_rejected_at_once() -> None:
    """Mr. Wang's home visit: medical record missing, receipts mixed up, the rest collected."""
    items = []
    for item in checklist_for(ClaimType.MEDICAL_REIMBURSEMENT):
        data = item.model_dump()
        if item.code == "payment_receipts":
            data |= {"status": "rejected", "rejection_reason": REJECTION_MIXED_RECEIPTS}
        elif item.code != "medical_record":
            data |= {"status": "collected"}
        items.append(ChecklistItem(**data))
    back = missing_items(items)
    assert [i.code for i in back] == ["medical_record", "payment_receipts"]
    assert all(i.hospital_document for i in back)
    assert missing_items([i for i in items if i.status is ChecklistItemStatus.COLLECTED]) == []
