"""At the API edge a request holds only the fields the API knows: an unknown one, at any
depth, is a 422 that names it (the same models read back from storage ignore it)."""

from __future__ import annotations

import httpx

from tests.support.claims import wang_opening


async def test_an_unknown_field_in_a_body_is_a_422_naming_it(api: httpx.AsyncClient):
    opening = wang_opening()
    opening["policyholder"]["shoe_size"] = 42
    opening["priority"] = "vip"
    r = await api.post("/claims", json=opening, headers={"Idempotency-Key": "exact-0001"})
    assert r.status_code == 422, r.text
    assert {(e["type"], tuple(e["loc"])) for e in r.json()["detail"]} == {
        ("extra_forbidden", ("body", "policyholder", "shoe_size")),
        ("extra_forbidden", ("body", "priority")),
    }
    r = await api.post("/tasks/TSK-none/complete", json={
        "completed_by": "admin", "outcome": {"kind": "triage", "liability": "not_covered",
                                             "explanation": "e", "confidence": 1}})
    assert r.status_code == 422, r.text
    assert [tuple(e["loc"]) for e in r.json()["detail"]] == [
        ("body", "outcome", "triage", "confidence")
    ]
