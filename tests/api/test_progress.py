"""The policyholder's progress link: the signed, expiring token and what it shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.progress import ExpiredToken, InvalidToken, make_token, read_token
from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase
from domain.vocabulary import Role
from tests.support.claims import bearer

SECRET = "a-secret-that-signs-progress-links-0123456789"
NOW = datetime(2026, 11, 8, 9, 30, tzinfo=UTC)
CLAIM = "CLM-0123456789ABCDEF"


def test_a_token_reads_back_its_claim_and_expiry():
    token = make_token(SECRET, CLAIM, NOW + timedelta(days=14))
    assert token.startswith(f"{CLAIM}.")
    assert read_token(SECRET, token, now=NOW) == (CLAIM, NOW + timedelta(days=14))


def test_a_token_expires():
    token = make_token(SECRET, CLAIM, NOW + timedelta(days=14))
    assert read_token(SECRET, token, now=NOW + timedelta(days=14) - timedelta(seconds=1))
    with pytest.raises(ExpiredToken):
        read_token(SECRET, token, now=NOW + timedelta(days=14))


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t.replace(CLAIM, "CLM-0123456789ABCDEE"),  # another claim
        lambda t: t.replace(".", ".9", 1),  # a later expiry
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: t.rsplit(".", 1)[0],  # no signature
        lambda t: t + ".x",  # a part too many
        lambda t: "",
        lambda t: "not a token at all",
        lambda t: t.replace(".", ".-", 1),  # a negative expiry
    ],
)
def test_an_altered_token_is_invalid_not_expired(alter):
    token = make_token(SECRET, CLAIM, NOW - timedelta(days=1))  # expired, too
    with pytest.raises(InvalidToken):
        read_token(SECRET, alter(token), now=NOW)


def test_a_token_of_another_secret_is_invalid():
    token = make_token("another-secret-0123456789-0123456789", CLAIM, NOW + timedelta(days=1))
    with pytest.raises(InvalidToken):
        read_token(SECRET, token, now=NOW)


async def test_the_consultant_sends_a_link_that_shows_the_claim_to_anyone_holding_it(
    api: httpx.AsyncClient, settings
):
    gao = bearer(settings, CONSULTANT, Role.CONSULTANT)
    case = ReferenceCase(api, signed_in={CONSULTANT: gao})
    await api.put(f"/field-agents/{AGENT}",
                  json={"name": "Xiao Zheng", "city": "Beijing", "phone": "13800138000"})
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()
    await case.xiao_zheng_accepts()
    await case.home_visit()

    r = await api.post(f"/claims/{case.claim_id}/progress-link", json={"valid_days": 3},
                       headers=gao)
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"].endswith(f"/console/#/progress/{link['token']}")
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(days=3) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=3)
    default = (await api.post(f"/claims/{case.claim_id}/progress-link", headers=gao)).json()
    assert datetime.fromisoformat(default["expires_at"]) - expires > timedelta(days=10)

    # The agent does not send links; nor does anyone about a claim that is not theirs.
    as_agent = bearer(settings, AGENT, Role.FIELD_AGENT, "Beijing")
    r = await api.post(f"/claims/{case.claim_id}/progress-link", headers=as_agent)
    assert r.status_code == 403
    r = await api.post(f"/claims/{case.claim_id}/progress-link",
                       headers=bearer(settings, "xiao.li", Role.CONSULTANT))
    assert r.status_code == 403
    r = await api.post(f"/claims/{case.claim_id}/progress-link", json={"valid_days": 0}, headers=gao)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "valid_days"]

    # No sign-in: the link is the key.
    r = await api.get(f"/progress/{link['token']}", headers={"Authorization": ""})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    p = r.json()
    assert (p["stage"], p["step"], p["steps"]) == ("document_gathering", 2, 5)
    assert p["where"]["zh"] == "我们正在和您一起准备理赔材料。"
    assert p["next"]["en"].startswith("Please have the documents below ready")
    assert [(n["code"], n["reason"]["zh"]) for n in p["still_needed"]] == [
        ("medical_record", "缺少病历"),
        ("payment_receipts", "票据与其他家庭成员的票据混在一起"),
    ]
    assert p["agent"] == {"name": "Xiao Zheng", "phone": "13800138000"}
    assert p["visit_at"] is not None and p["payout"] is None
    # Nothing else about Mr. Wang: not his name, age, phone, policy, insurer or illness.
    body = r.text
    for personal in ("Mr. Wang", "P-2019-000123", "Example Life", "cerebral", "Jishuitan",
                     "return-visit", CONSULTANT):
        assert personal not in body, personal

    # Later stages: the payout explained.
    await case.hospital_trip_and_submit()
    await case.xiao_gao_verifies()
    await case.wang_confirms_filing()
    await case.xiao_gao_files()
    p = (await api.get(f"/progress/{link['token']}", headers={"Authorization": ""})).json()
    assert p["stage"] == "pre_decision_explanation" and p["still_needed"] == []
    assert p["payout"]["expected"] == "95000.00" and p["payout"]["awarded"] is None
    assert "您无社保，赔付比例为 60%" in p["payout"]["explanation"]["zh"]


async def test_an_expired_or_altered_link_is_refused_in_plain_words(api: httpx.AsyncClient, settings):
    case = ReferenceCase(api)
    await case.return_visit_opens_case()
    secret = settings.auth_secret.get_secret_value()
    expired = make_token(secret, case.claim_id, datetime.now(UTC) - timedelta(seconds=1))
    r = await api.get(f"/progress/{expired}", headers={"Authorization": ""})
    assert r.status_code == 410
    assert "expired" in r.json()["detail"]
    good = make_token(secret, case.claim_id, datetime.now(UTC) + timedelta(days=1))
    for bad in (good[:-2] + "xx", good.replace(case.claim_id, "CLM-FFFFFFFFFFFFFFFF"), "nonsense"):
        r = await api.get(f"/progress/{bad}", headers={"Authorization": ""})
        assert r.status_code == 404, bad
    # A genuine link to a claim that does not exist (any more): 404 too.
    ghost = make_token(secret, "CLM-FFFFFFFFFFFFFFFF", datetime.now(UTC) + timedelta(days=1))
    assert (await api.get(f"/progress/{ghost}", headers={"Authorization": ""})).status_code == 404
