"""The intelligent information summary: one page a consultant or agent reads before acting.

Template-based and deterministic: the same claim data always gives the same summary.
"""

from __future__ import annotations

from domain.models import ClaimView
from domain.payout import format_percent, format_yuan


def case_summary(claim: ClaimView) -> str:
    o = claim.opening
    h, p, i = o.policyholder, o.policy, o.incident
    who = h.name + (f", {h.age}" if h.age is not None else "") + f", {h.city}"
    lines = [
        f"Claim {claim.claim_id}: {who}.",
        f"Incident: {i.claim_type.value.replace('_', ' ')}"
        + (f", {i.diagnosis}" if i.diagnosis else "")
        + f", on {i.occurred_on.isoformat()}"
        + (f" at {i.hospital}" if i.hospital else "")
        + f". {i.description}",
        f"Policy {p.policy_number} with {p.insurer}"
        + (f" ({p.product})" if p.product else "")
        + f": sum insured {format_yuan(p.sum_insured)} yuan, deductible"
        f" {format_yuan(p.deductible)} yuan, reimbursement"
        f" {format_percent(p.ratio_with_social_security)} with social security,"
        f" {format_percent(p.ratio_without_social_security)} without;"
        f" the user {'has' if h.has_social_security else 'has no'} social security.",
        f"Discovered by {o.source.value.replace('_', ' ')} ({o.opened_by}).",
    ]
    if h.needs:
        lines.append("Needs: " + ", ".join(n.value.replace("_", " ") for n in h.needs) + ".")
    if claim.triage is not None:
        t = claim.triage
        lines.append(
            f"Triage: {t.liability.value.replace('_', ' ')}"
            + (f", {t.path.value} path" if t.path else "")
            + (
                "; assist services: "
                + ", ".join(s.value.replace("_", " ") for s in t.assist_services)
                if t.assist_services
                else ""
            )
            + "."
        )
        if t.explanation:
            lines.append(f"Judgment: {t.explanation}")
    if o.note:
        lines.append(f"Note: {o.note}")
    return "\n".join(lines)
