from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.payout import (
    ExpenseItem,
    PayoutTerms,
    compute_payout,
    compute_payout_from_total,
    explain,
    format_percent,
    format_yuan,
    reconcile,
)

D = Decimal


def terms(
    *,
    deductible: str = "10000",
    with_ss: str = "1",
    without_ss: str = "0.6",
    sum_insured: str = "200000",
    has_social_security: bool = False,
) -> PayoutTerms:
    return PayoutTerms(
        deductible=D(deductible),
        ratio_with_social_security=D(with_ss),
        ratio_without_social_security=D(without_ss),
        sum_insured=D(sum_insured),
        has_social_security=has_social_security,
    )


# --- Mr. Wang ---------------------------------------------------------------------------


def test_mr_wang_reference_case() -> None:
    c = compute_payout_from_total(terms(), D("168333.33"))
    assert c.eligible_expenses == D("168333.33")
    assert c.deductible == D("10000.00")
    assert c.above_deductible == D("158333.33")
    assert c.ratio == D("0.6")
    assert c.uncapped == D("94999.998")
    assert not c.capped
    assert c.payout == D("95000.00")
    assert c.payout.as_tuple().exponent == -2
    assert reconcile(c, D("95000")).matches


def test_mr_wang_with_items_and_an_exclusion() -> None:
    reason = "self-paid imported drug not on the list"
    items = [
        ExpenseItem(description="Inpatient treatment", amount=D("150000.00")),
        ExpenseItem(description="Rehabilitation", amount=D("18333.33")),
        ExpenseItem(description="Imported drug", amount=D("4200.50"), excluded_reason=reason),
    ]
    c = compute_payout(terms(), items)
    assert c.total_expenses == D("172533.83")
    assert c.excluded_total == D("4200.50")
    assert c.eligible_expenses == D("168333.33")
    assert c.payout == D("95000.00")
    assert [e.description for e in c.exclusions] == ["Imported drug"]
    assert c.exclusions[0].excluded_reason == reason


def test_social_security_picks_the_other_ratio() -> None:
    c = compute_payout_from_total(terms(has_social_security=True), D("168333.33"))
    assert c.ratio == D("1")
    assert c.payout == D("158333.33")


def test_capped_at_sum_insured() -> None:
    c = compute_payout_from_total(terms(sum_insured="50000"), D("168333.33"))
    assert c.capped
    assert c.uncapped == D("94999.998")
    assert c.payout == D("50000.00")
    assert c.payout.as_tuple().exponent == -2


def test_exactly_at_sum_insured_is_not_capped() -> None:
    c = compute_payout_from_total(terms(sum_insured="60000", without_ss="0.6"), D("110000"))
    assert c.payout == D("60000.00")
    assert not c.capped


def test_deductible_larger_than_expenses_pays_nothing() -> None:
    c = compute_payout_from_total(terms(deductible="20000"), D("8000.00"))
    assert c.above_deductible == D("0.00")
    assert c.payout == D("0.00")
    assert not c.capped


def test_everything_excluded_pays_nothing() -> None:
    items = [ExpenseItem(description="Cosmetic", amount=D("30000"), excluded_reason="cosmetic")]
    c = compute_payout(terms(deductible="0"), items)
    assert c.eligible_expenses == D("0.00")
    assert c.payout == D("0.00")


def test_no_items() -> None:
    assert compute_payout(terms(), []).payout == D("0.00")


def test_half_a_fen_rounds_up() -> None:
    # 0.01 x 0.5 = 0.005 -> 0.01 (half up, not banker's rounding to 0.00)
    c = compute_payout_from_total(terms(deductible="0", without_ss="0.5"), D("0.01"))
    assert c.payout == D("0.01")


@pytest.mark.parametrize("bad", [D("-1"), D("1.005"), D("NaN"), D("Infinity")])
def test_from_total_rejects_bad_amounts(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        compute_payout_from_total(terms(), bad)


def test_from_total_rejects_float() -> None:
    with pytest.raises(TypeError):
        compute_payout_from_total(terms(), 100.0)  # type: ignore[arg-type]


def test_terms_validate() -> None:
    with pytest.raises(ValidationError):
        terms(without_ss="1.2")
    with pytest.raises(ValidationError):
        terms(deductible="-5")
    with pytest.raises(ValidationError):
        ExpenseItem(description="x", amount=D("1.001"))


def test_reconcile_reports_the_difference() -> None:
    c = compute_payout_from_total(terms(), D("168333.33"))
    r = reconcile(c, D("90000.00"))
    assert r.expected == D("95000.00")
    assert r.awarded == D("90000.00")
    assert r.difference == D("-5000.00")
    assert not r.matches
    with pytest.raises(ValueError):
        reconcile(c, D("-1"))


# --- explanation ------------------------------------------------------------------------


def test_formatting() -> None:
    assert format_yuan(D("168333.33")) == "168,333.33"
    assert format_yuan(D("10000")) == "10,000.00"
    assert format_yuan(D("0")) == "0.00"
    assert format_percent(D("0.6")) == "60%"
    assert format_percent(D("1")) == "100%"
    assert format_percent(D("0.655")) == "65.5%"


def wang_computation():
    items = [
        ExpenseItem(description="Inpatient treatment", amount=D("168333.33")),
        ExpenseItem(
            description="Imported drug",
            amount=D("3200.00"),
            excluded_reason="self-paid imported drug not on the list",
        ),
    ]
    t = terms()
    return compute_payout(t, items), t


def test_explanation_in_english() -> None:
    c, t = wang_computation()
    text = explain(c, t, language="en")
    for fragment in (
        "95,000.00",
        "168,333.33",
        "10,000.00",
        "60%",
        "no social security",
        "94,999.998",
        "Imported drug",
        "3,200.00",
        "self-paid imported drug not on the list",
    ):
        assert fragment in text


def test_explanation_in_chinese() -> None:
    c, t = wang_computation()
    text = explain(c, t, language="zh")
    for fragment in (
        "95,000.00 元",
        "168,333.33",
        "10,000.00",
        "60%",
        "无社保",
        "免赔额",
        "赔付比例",
        "3,200.00 元",
        "self-paid imported drug not on the list",
    ):
        assert fragment in text


def test_explanation_mentions_cap_and_nothing_payable() -> None:
    t = terms(sum_insured="50000", has_social_security=True)
    c = compute_payout_from_total(t, D("168333.33"))
    assert "sum insured of 50,000.00" in explain(c, t, language="en")
    assert "保额 50,000.00 元" in explain(c, t, language="zh")
    assert "有社保" in explain(c, t, language="zh")

    t = terms(deductible="20000")
    c = compute_payout_from_total(t, D("8000"))
    assert "nothing is payable" in explain(c, t, language="en")
    assert "未超过免赔额" in explain(c, t, language="zh")


def test_explanation_rejects_other_terms_and_languages() -> None:
    c, t = wang_computation()
    with pytest.raises(ValueError):
        explain(c, terms(has_social_security=True), language="en")
    with pytest.raises(ValueError):
        explain(c, t, language="fr")  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
ratios = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False)


@st.composite
def payout_terms(draw: st.DrawFn) -> PayoutTerms:
    return PayoutTerms(
        deductible=draw(st.decimals(min_value=0, max_value=10**6, places=2)),
        ratio_with_social_security=draw(ratios),
        ratio_without_social_security=draw(ratios),
        sum_insured=draw(amounts),
        has_social_security=draw(st.booleans()),
    )


@given(payout_terms(), amounts)
def test_payout_bounds_and_fen(t: PayoutTerms, eligible: Decimal) -> None:
    c = compute_payout_from_total(t, eligible)
    assert c.payout >= 0
    assert c.payout <= t.sum_insured
    assert c.payout.as_tuple().exponent == -2
    assert c.capped == (c.payout == t.sum_insured and c.uncapped > t.sum_insured)


@given(payout_terms(), amounts, amounts)
def test_payout_monotonic_in_eligible_expenses(t: PayoutTerms, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert compute_payout_from_total(t, low).payout <= compute_payout_from_total(t, high).payout


@given(payout_terms(), amounts)
def test_payout_matches_the_formula(t: PayoutTerms, eligible: Decimal) -> None:
    if t.has_social_security:
        ratio = t.ratio_with_social_security
    else:
        ratio = t.ratio_without_social_security
    expected = min(max(D(0), eligible - t.deductible) * ratio, t.sum_insured)
    expected = expected.quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert compute_payout_from_total(t, eligible).payout == expected


@given(
    payout_terms(),
    st.lists(
        st.tuples(st.decimals(min_value=0, max_value=10**6, places=2), st.booleans()),
        max_size=20,
    ),
)
def test_items_and_total_agree(t: PayoutTerms, lines: list[tuple[Decimal, bool]]) -> None:
    items = [
        ExpenseItem(description=f"item {n}", amount=amount, excluded_reason="x" if ex else None)
        for n, (amount, ex) in enumerate(lines)
    ]
    by_items = compute_payout(t, items)
    eligible = sum((a for a, ex in lines if not ex), D("0.00"))
    assert by_items.eligible_expenses == eligible
    assert by_items.total_expenses == by_items.excluded_total + by_items.eligible_expenses
    assert len(by_items.exclusions) == sum(ex for _, ex in lines)
    assert by_items.payout == compute_payout_from_total(t, eligible).payout


@given(payout_terms(), amounts)
def test_explanation_states_the_payout(t: PayoutTerms, eligible: Decimal) -> None:
    c = compute_payout_from_total(t, eligible)
    assert format_yuan(c.payout) in explain(c, t, language="en")
    assert format_yuan(c.payout) in explain(c, t, language="zh")
