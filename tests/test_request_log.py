"""Every request has an id on all its log lines and one access line (method, route template,
status, duration, who), and every line says its time with its zone."""

from __future__ import annotations

import re

import httpx

from tests.security.logcapture import captured_logs
from tests.support.claims import open_claim


def lines_of(text: str, event: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(rf"\b{event}\b", line)]


async def test_a_request_is_logged_once_by_its_route_with_its_id(api: httpx.AsyncClient):
    claim = await open_claim(api)
    with captured_logs() as logs:
        r = await api.get(f"/claims/{claim['claim_id']}", headers={"X-Request-ID": "trace-42.a"})
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "trace-42.a"
        odd = await api.get("/claims/CLM-NONE", headers={"X-Request-ID": "not ok" * 20})
        assert odd.status_code == 404
        assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])
        assert (await api.get("/healthz")).status_code == 200
    text = logs.getvalue()
    access = lines_of(text, "request")
    ours = [line for line in access if "trace-42.a" in line]
    assert len(ours) == 1, access
    line = ours[0]
    for part in ("route=/claims/{claim_id}", "method=GET", "status=200", "user_id=admin"):
        assert part in line, line
    assert re.search(r"duration_ms=\d+(\.\d)?", line)
    assert claim["claim_id"] not in line  # the route's template, never the ids in the path
    assert any(odd.headers["x-request-id"] in a and "status=404" in a for a in access)
    probes = [a for a in access if "route=/healthz" in a]
    assert probes and all("debug" in a for a in probes)  # probes and scrapes: DEBUG, not INFO
    # Every line says its zone: Asia/Shanghai time.
    stamped = [line for line in text.splitlines() if line[:4].isdigit()]
    assert stamped and all(re.match(r"\S+\+08:00 ", line) for line in stamped), stamped[:3]
