"""The payout calculator for reimbursement-type medical cover, and its explanation.

    payout = max(0, eligible expenses - deductible) x reimbursement ratio, capped at the sum insured

The broker does not decide claims; this is what the agent tells the user to expect before the
insurer decides, and what the claim report is checked against (and explained with) after.
Everything is Decimal, exact to the fen: a user who is told 95,000.00 must be paid 95,000.00.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Annotated, Literal

from pydantic import Field

from domain.limits import MAX_EXPENSE_TEXT
from domain.vocabulary import Model, Money, Storable

FEN = Decimal("0.01")
"""One fen: payouts are rounded to it, half up, as a cashier would."""

Ratio = Annotated[Decimal, Field(ge=0, le=1)]
"""A reimbursement ratio: 0.6 is 60%."""

_PRECISION = 60
"""Decimal digits for intermediate products, so (expenses - deductible) x ratio is exact."""


ExpenseText = Annotated[str, Field(min_length=1, max_length=MAX_EXPENSE_TEXT), Storable]


class ExpenseItem(Model):
    """One line of the itemised expense list; an excluded line is not eligible, with the why."""

    description: ExpenseText
    amount: Money
    excluded_reason: ExpenseText | None = None

    @property
    def excluded(self) -> bool:
        return self.excluded_reason is not None


class PayoutTerms(Model):
    """The contract terms that set the payout: deductible, ratios, sum insured, social security."""

    deductible: Money
    ratio_with_social_security: Ratio
    ratio_without_social_security: Ratio
    sum_insured: Money
    has_social_security: bool

    @property
    def ratio(self) -> Decimal:
        """The ratio that applies to this user (it depends on their social security)."""
        if self.has_social_security:
            return self.ratio_with_social_security
        return self.ratio_without_social_security


class PayoutComputation(Model):
    """Every step of one payout computation, so it can be shown and explained, not just stated."""

    total_expenses: Money
    excluded_total: Money
    eligible_expenses: Money
    deductible: Money
    above_deductible: Money
    ratio: Ratio
    uncapped: Annotated[Decimal, Field(ge=0)]
    """above_deductible x ratio, exact (not yet rounded to the fen)."""
    capped: bool
    """True when the sum insured limited the payout."""
    payout: Money
    exclusions: list[ExpenseItem] = []


class Reconciliation(Model):
    """The insurer's awarded amount against what the terms say it should be."""

    expected: Money
    awarded: Money
    difference: Decimal
    """awarded - expected: negative means the user got less than the terms give."""
    matches: bool


def _to_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _exact_money(value: Decimal, what: str) -> Decimal:
    """Accept only a finite, non-negative amount exact to the fen (never round silently)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite amount >= 0, got {value}")
    if value != value.quantize(FEN):
        raise ValueError(f"{what} must be exact to the fen, got {value}")
    return value.quantize(FEN)


def _compute(
    terms: PayoutTerms,
    total: Decimal,
    excluded_total: Decimal,
    exclusions: list[ExpenseItem],
) -> PayoutComputation:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        # Money inputs have at most two decimals, so quantizing them to the fen is exact;
        # it only gives every amount the same form (exponent -2).
        total, excluded_total = _to_fen(total), _to_fen(excluded_total)
        deductible, sum_insured = _to_fen(terms.deductible), _to_fen(terms.sum_insured)
        eligible = total - excluded_total
        above = max(Decimal("0.00"), eligible - deductible)
        uncapped = above * terms.ratio
        capped = uncapped > sum_insured
        payout = sum_insured if capped else _to_fen(uncapped)
    return PayoutComputation(
        total_expenses=total,
        excluded_total=excluded_total,
        eligible_expenses=eligible,
        deductible=deductible,
        above_deductible=above,
        ratio=terms.ratio,
        uncapped=uncapped,
        capped=capped,
        payout=payout,
        exclusions=exclusions,
    )


def compute_payout(terms: PayoutTerms, items: Iterable[ExpenseItem]) -> PayoutComputation:
    """Compute the payout from the itemised expenses; excluded items are kept to explain them."""
    items = list(items)
    total = sum((i.amount for i in items), Decimal("0.00"))
    exclusions = [i.model_copy() for i in items if i.excluded]
    excluded_total = sum((i.amount for i in exclusions), Decimal("0.00"))
    return _compute(terms, total, excluded_total, exclusions)


def compute_payout_from_total(terms: PayoutTerms, eligible_expenses: Decimal) -> PayoutComputation:
    """Compute the payout when only the eligible total is known (no itemised list at hand)."""
    eligible = _exact_money(eligible_expenses, "eligible_expenses")
    return _compute(terms, eligible, Decimal("0.00"), [])


def reconcile(expected: PayoutComputation, awarded: Decimal) -> Reconciliation:
    """Compare the insurer's award with the computation; a mismatch is worth a dispute check."""
    awarded = _exact_money(awarded, "awarded")
    difference = awarded - expected.payout
    return Reconciliation(
        expected=expected.payout,
        awarded=awarded,
        difference=difference,
        matches=difference == 0,
    )


# --- explanation ------------------------------------------------------------------------


def format_yuan(amount: Decimal) -> str:
    """168333.33 -> "168,333.33": thousands separators, exactly two decimals (half up)."""
    return f"{_to_fen(amount):,.2f}"


def _format_exact(amount: Decimal) -> str:
    """Like format_yuan, but never hides digits below the fen (94,999.998 stays visible)."""
    if amount == _to_fen(amount):
        return format_yuan(amount)
    return f"{amount.normalize():,f}"


def format_percent(ratio: Decimal) -> str:
    """0.6 -> "60%", 0.655 -> "65.5%"."""
    percent = (ratio * 100).normalize()
    if percent == percent.to_integral_value():
        return f"{int(percent)}%"
    return f"{percent:f}%"


def _check_consistent(computation: PayoutComputation, terms: PayoutTerms) -> None:
    if computation.ratio != terms.ratio or computation.deductible != terms.deductible:
        raise ValueError("the computation was not made with these terms")


def explain(
    computation: PayoutComputation, terms: PayoutTerms, *, language: Literal["zh", "en"]
) -> str:
    """Explain a payout to the user: what was paid, how it was computed, what was excluded."""
    _check_consistent(computation, terms)
    if language == "zh":
        return _explain_zh(computation, terms)
    if language == "en":
        return _explain_en(computation, terms)
    raise ValueError(f"unsupported language: {language!r} (use 'zh' or 'en')")


def _explain_en(c: PayoutComputation, terms: PayoutTerms) -> str:
    y, pct = format_yuan, format_percent(c.ratio)
    lines = [f"Payout: {y(c.payout)} yuan."]
    if c.exclusions:
        lines.append(
            f"Total expenses were {y(c.total_expenses)} yuan, of which {y(c.excluded_total)} yuan"
            f" are not covered, leaving eligible expenses of {y(c.eligible_expenses)} yuan."
        )
    else:
        lines.append(f"Eligible expenses: {y(c.eligible_expenses)} yuan.")
    if terms.has_social_security:
        lines.append(f"You have social security, so the reimbursement ratio is {pct}.")
    else:
        lines.append(f"You have no social security, so the reimbursement ratio is {pct}.")
    lines.append(f"The deductible is {y(c.deductible)} yuan.")
    if c.above_deductible == 0:
        lines.append(
            f"The eligible expenses of {y(c.eligible_expenses)} yuan do not exceed the deductible"
            f" of {y(c.deductible)} yuan, so nothing is payable."
        )
    else:
        lines.append(
            f"Computation: ({y(c.eligible_expenses)} - {y(c.deductible)}) × {pct}"
            f" = {y(c.above_deductible)} × {pct} = {_format_exact(c.uncapped)} yuan."
        )
        if c.capped:
            lines.append(
                f"This is more than the sum insured of {y(terms.sum_insured)} yuan,"
                f" so the payout is capped at {y(c.payout)} yuan."
            )
        elif c.uncapped != c.payout:
            lines.append(f"Rounded to the fen: {y(c.payout)} yuan.")
    if c.exclusions:
        lines.append("Excluded from the eligible expenses:")
        lines.extend(
            f"- {i.description}: {y(i.amount)} yuan ({i.excluded_reason})" for i in c.exclusions
        )
    return "\n".join(lines)


def _explain_zh(c: PayoutComputation, terms: PayoutTerms) -> str:
    y, pct = format_yuan, format_percent(c.ratio)
    lines = [f"本次赔付金额：{y(c.payout)} 元。"]
    if c.exclusions:
        lines.append(
            f"医疗费用合计 {y(c.total_expenses)} 元，其中 {y(c.excluded_total)} 元不在保障范围内，"
            f"可报销费用为 {y(c.eligible_expenses)} 元。"
        )
    else:
        lines.append(f"可报销费用：{y(c.eligible_expenses)} 元。")
    if terms.has_social_security:
        lines.append(f"您有社保，赔付比例为 {pct}。")
    else:
        lines.append(f"您无社保，赔付比例为 {pct}。")
    lines.append(f"免赔额为 {y(c.deductible)} 元。")
    if c.above_deductible == 0:
        lines.append(
            f"可报销费用 {y(c.eligible_expenses)} 元未超过免赔额 {y(c.deductible)} 元，"
            "因此本次没有可赔付金额。"
        )
    else:
        lines.append(
            f"计算方式：（{y(c.eligible_expenses)} - {y(c.deductible)}）× {pct}"
            f" = {y(c.above_deductible)} × {pct} = {_format_exact(c.uncapped)} 元。"
        )
        if c.capped:
            lines.append(
                f"该金额超过保额 {y(terms.sum_insured)} 元，因此按保额赔付 {y(c.payout)} 元。"
            )
        elif c.uncapped != c.payout:
            lines.append(f"四舍五入精确到分后为 {y(c.payout)} 元。")
    if c.exclusions:
        lines.append("以下费用未纳入报销范围：")
        lines.extend(
            f"- {i.description}：{y(i.amount)} 元（原因：{i.excluded_reason}）"
            for i in c.exclusions
        )
    return "\n".join(lines)


def explain_award(
    expected: PayoutComputation, terms: PayoutTerms, awarded: Decimal
) -> tuple[Reconciliation, str, str]:
    """The insurer's award against what the terms give: the reconciliation and the
    explanation in Chinese and English, led by the difference when there is one."""
    reconciliation = reconcile(expected, awarded)
    zh = explain(expected, terms, language="zh")
    en = explain(expected, terms, language="en")
    if not reconciliation.matches:
        diff = format_yuan(abs(reconciliation.difference))
        more = reconciliation.difference > 0
        en = (
            f"The insurer awarded {format_yuan(awarded)} yuan, {diff} yuan "
            f"{'more' if more else 'less'} than the terms give:\n" + en
        )
        zh = (
            f"保险公司实际赔付 {format_yuan(awarded)} 元，比按条款计算的金额"
            f"{'多' if more else '少'} {diff} 元：\n" + zh
        )
    return reconciliation, zh, en
