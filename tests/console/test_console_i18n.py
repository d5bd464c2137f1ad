"""Every word of the console exists in Chinese and in English (no browser needed)."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from console import STATIC
from domain.checklist import COMMON_REJECTION_REASONS, DOCUMENTS, REJECTION_REASONS_ZH, ChecklistItemStatus
from domain.vocabulary import (
    AssistService, ClaimStage, ClaimStatus, ClaimType, Closure, DiscoverySource,
    DisputeResolution, InsurerDecision, Liability, OfflineNeed, Priority, Role, ServicePath,
    TaskKind, TaskStatus,
)
from tests.console.support import EN, ZH

VOCABULARY: dict[str, type[StrEnum]] = {
    "stage": ClaimStage, "kind": TaskKind, "claim_type": ClaimType, "liability": Liability,
    "path": ServicePath, "service": AssistService, "decision": InsurerDecision,
    "need": OfflineNeed, "source": DiscoverySource, "doc_status": ChecklistItemStatus,
    "priority": Priority, "role": Role, "closure": Closure, "resolution": DisputeResolution,
    "claim_status": ClaimStatus, "task_status": TaskStatus,
}


def test_both_languages_have_the_same_words_and_none_is_empty():
    assert set(ZH) == set(EN)
    assert [k for k, v in {**ZH, **EN}.items() if not v.strip()] == []
    # Placeholders agree, so a sentence never loses its number in one language.
    for key in ZH:
        assert set(re.findall(r"\{\w+\}", ZH[key])) == set(re.findall(r"\{\w+\}", EN[key])), key


def test_every_label_the_scripts_use_is_translated():
    used: set[str] = set()
    for script in (STATIC).rglob("*.js"):
        used |= set(re.findall(r"\bt\('([a-z_0-9.]+)'", script.read_text(encoding="utf-8")))
    assert len(used) > 250
    assert sorted(used - set(ZH)) == []


@pytest.mark.parametrize("group", sorted(VOCABULARY))
def test_every_word_of_the_domain_is_translated(group: str):
    missing = [f"{group}.{v.value}" for v in VOCABULARY[group] if f"{group}.{v.value}" not in ZH]
    assert missing == []


def test_documents_and_rejection_reasons_read_as_the_catalogue_says():
    for code, spec in DOCUMENTS.items():
        assert (ZH[f"doc.{code}"], EN[f"doc.{code}"]) == (spec.title_zh, spec.title_en)
    reasons = {EN[k]: ZH[k] for k in ZH if k.startswith("reason.")}
    assert reasons == {r: REJECTION_REASONS_ZH[r] for r in COMMON_REJECTION_REASONS}
