import pytest

from domain.eligibility import is_served_city, offline_eligibility
from domain.vocabulary import OfflineNeed

SERVED = ["Beijing", "Wuhan", "Shenzhen", "Xi'an"]


def test_mr_wang_is_eligible() -> None:
    result = offline_eligibility(
        [OfflineNeed.ELDERLY, OfflineNeed.CANNOT_COLLECT_DOCUMENTS], True, "Beijing", ["Beijing"]
    )
    assert result.eligible
    assert result.reasons == []


@pytest.mark.parametrize("city", ["beijing", " BEIJING ", "Xi'an", "xi'an", "shenzhen"])
def test_city_match_ignores_case_and_spaces(city: str) -> None:
    assert offline_eligibility([OfflineNeed.ELDERLY], True, city, SERVED).eligible


def test_unserved_city_says_which_cities_are_served() -> None:
    result = offline_eligibility([OfflineNeed.ELDERLY], True, "Shanghai", ["Beijing"])
    assert not result.eligible
    assert result.reasons == ["the user lives in Shanghai, not a served city (served: Beijing)"]


def test_no_need() -> None:
    result = offline_eligibility([], True, "Beijing", SERVED)
    assert not result.eligible
    assert len(result.reasons) == 1
    assert "no need for field service" in result.reasons[0]
    assert "elderly" in result.reasons[0]


def test_does_not_meet_pre_audit() -> None:
    result = offline_eligibility([OfflineNeed.ELDERLY], False, "Beijing", SERVED)
    assert not result.eligible
    assert len(result.reasons) == 1
    assert "pre-audit standard" in result.reasons[0]


def test_every_lack_is_reported() -> None:
    result = offline_eligibility([], False, "Shanghai", [])
    assert not result.eligible
    assert len(result.reasons) == 3
    assert result.reasons[2] == "the user lives in Shanghai, not a served city (served: none)"


def test_unknown_city() -> None:
    result = offline_eligibility([OfflineNeed.ELDERLY], True, "  ", SERVED)
    assert not result.eligible
    assert "city is unknown" in result.reasons[0]
    assert not is_served_city("", [""])


@pytest.mark.parametrize("need", list(OfflineNeed))
def test_any_single_need_is_enough(need: OfflineNeed) -> None:
    assert offline_eligibility([need], True, "Wuhan", SERVED).eligible
