"""`claimflow demo`: Mr. Wang's case through the HTTP API of a running system."""

from __future__ import annotations

import secrets
import sys

import httpx

from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _sign_in(http: httpx.AsyncClient, user_id: str, password: str) -> dict[str, str]:
    r = await http.post("/auth/token", data={"username": user_id, "password": password})
    if r.status_code != 200:
        raise SystemExit(f"cannot sign in as {user_id}: {r.status_code} {r.text}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def run_demo(base_url: str, admin_password: str | None) -> None:
    if not admin_password:
        raise SystemExit("the admin password is needed: --admin-password or CLAIMFLOW_ADMIN_PASSWORD")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        ready = await http.get("/readyz")
        if ready.status_code != 200:
            raise SystemExit(f"{base_url} is not ready ({ready.status_code}): run `make up` first")
        http.headers.update(await _sign_in(http, "admin", admin_password))
        # Xiao Gao and Xiao Zheng get accounts and act with their own tokens.
        signed_in = {}
        for user_id, name, role, city in (
            (CONSULTANT, "Xiao Gao", "consultant", None),
            (AGENT, "Xiao Zheng", "field_agent", "Beijing"),
        ):
            password = secrets.token_urlsafe(12)
            r = await http.put(f"/users/{user_id}", json={
                "name": name, "role": role, "city": city, "password": password})
            r.raise_for_status()
            signed_in[user_id] = await _sign_in(http, user_id, password)
        case = ReferenceCase(http, log=lambda line: _say(f"  - {line}"), signed_in=signed_in)
        _say(f"Mr. Wang's claim, through {base_url}")
        view = await case.run()

        _say(f"\nClaim {view['claim_id']}: {view['status']} ({view['closure']})")
        _say("\nTimeline")
        timeline = (await http.get(f"/claims/{case.claim_id}/timeline")).json()["entries"]
        for e in timeline:
            _say(f"  {e['seq']:>3}  {e['at'][:19]}  {e['actor']:<16} {e['action']} {_what(e['details'])}")

        payout = view["payout"]
        c = payout["expected"]
        _say("\nPayout computation")
        _say(f"  total expenses      {c['total_expenses']:>12}")
        _say(f"  excluded            {c['excluded_total']:>12}")
        _say(f"  eligible expenses   {c['eligible_expenses']:>12}")
        _say(f"  deductible          {c['deductible']:>12}")
        _say(f"  above deductible    {c['above_deductible']:>12}")
        _say(f"  ratio               {c['ratio']:>12}")
        _say(f"  payout              {c['payout']:>12}")
        _say(f"  awarded by insurer  {payout['awarded']:>12}")
        _say("\n" + payout["explanation_en"])
        _say("\n" + payout["explanation_zh"])


def _what(details: dict) -> str:
    if "code" in details and isinstance(details.get("new"), dict):
        new = details["new"]
        return f"{details['code']}: {new['status']}" + (f" ({new['reason']})" if new["reason"] else "")
    for key in ("new", "kind", "decision", "hospital", "closure"):
        if details.get(key):
            return str(details[key])
    return ""
