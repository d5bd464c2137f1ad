"""Who gets offline (field) service: a visit costs an agent's day, so it goes only where needed.

Offered only when all hold: the user needs it, the consultant judges the case meets the
insurer's pre-audit standard, and the user lives in a served city (served cities are
configuration, passed in). Otherwise the claim follows the online path.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.vocabulary import Model, OfflineNeed


class OfflineEligibility(Model):
    """The decision, with what is lacking in plain English (empty when eligible)."""

    eligible: bool
    reasons: list[str] = []


def _fold(city: str) -> str:
    return " ".join(city.split()).casefold()


def is_served_city(city: str, served_cities: Iterable[str]) -> bool:
    """Case- and whitespace-insensitive: "beijing " is Beijing."""
    return bool(_fold(city)) and _fold(city) in {_fold(c) for c in served_cities}


def offline_eligibility(
    needs: list[OfflineNeed],
    meets_pre_audit: bool,
    city: str,
    served_cities: list[str],
) -> OfflineEligibility:
    """Decide whether the offline path may be offered, and say why not when it may not."""
    reasons: list[str] = []
    if not needs:
        options = ", ".join(n.value.replace("_", " ") for n in OfflineNeed)
        reasons.append(f"the user has no need for field service (none of: {options})")
    if not meets_pre_audit:
        reasons.append(
            "the consultant's initial judgment is that the case does not meet"
            " the insurer's pre-audit standard"
        )
    if not is_served_city(city, served_cities):
        served = ", ".join(c.strip() for c in served_cities) or "none"
        where = city.strip()
        if where:
            reasons.append(f"the user lives in {where}, not a served city (served: {served})")
        else:
            reasons.append(f"the user's city is unknown (served: {served})")
    return OfflineEligibility(eligible=not reasons, reasons=reasons)
