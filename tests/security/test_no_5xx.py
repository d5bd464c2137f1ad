"""Issue 11, item 7: what hostile testing answered with 5xx answers 4xx (or 503 when the
fault is a dependency's, with Retry-After) and says why.

- more than Temporal's ten in-flight Updates on one claim: 429 with Retry-After, never 500;
- a write with an Idempotency-Key while PostgreSQL is down: 503 with Retry-After;
- datetimes far outside any claim's life (years 1 and 9999, at ±14:00) in list filters,
  cursors, figures and a task's due time: 422 naming the field;
- a lone surrogate (`"\\ud800"`) in any JSON text: 422, and the 422 can be encoded;
- expenses whose total the money columns cannot hold: 422 naming the field, at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from api.schemas import SavedViewInput
from claimflow.embedded import free_port
from claimflow.settings import Settings
from domain import limits
from domain.ids import claim_id_for
from domain.models import NoteInput, TaskChange
from tests.support.claims import bearer, complete, open_claim, open_task, wang_opening
from tests.support.server import in_process

EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def field_errors(r: httpx.Response) -> dict[tuple[Any, ...], str]:
    assert r.status_code == 422, (r.request.url, r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, list), detail
    return {tuple(e["loc"]): e["msg"] for e in detail}


def names(r: httpx.Response, loc: tuple[Any, ...], *words: str) -> None:
    errors = field_errors(r)
    assert loc in errors, errors
    for word in words:
        assert word in errors[loc], (loc, errors[loc])


def note(text: str) -> dict[str, Any]:
    """A note's body (the author comes from the token once item 6 lands)."""
    body: dict[str, Any] = {"text": text}
    if "author" in NoteInput.model_fields:
        body["author"] = "admin"
    return body


def task_change(**fields: Any) -> dict[str, Any]:
    if "changed_by" in TaskChange.model_fields:
        fields["changed_by"] = "admin"
    return fields


# --- too many actions on one claim at once ------------------------------------------------


async def test_more_concurrent_actions_than_temporal_takes_answer_429_not_500(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool, worker: None, clean_db: None
):
    """Temporal holds at most ten Updates in flight per workflow and refuses the rest at once
    (RESOURCE_EXHAUSTED): each refused action is a 429 with Retry-After, never a 500.

    Deterministic: the claim's workflow runs on a task queue no worker polls, so the first
    ten notes stay in flight; those after them are refused (all that answer before the
    workflow goes: nothing else can). Then the workflow is
    terminated and the ten in flight are answered too: none with a 5xx."""
    app = create_app(settings, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    claim_id = claim_id_for(f"busy-{uuid.uuid4()}")
    handle = await temporal_client.start_workflow(
        "Claim", id=claim_id, task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}"
    )
    async with in_process(
        app, raise_app_exceptions=False, timeout=60, headers=bearer(settings)
    ) as http:
        url = f"/claims/{claim_id}/notes"
        sent = []
        for i in range(15):
            sent.append(asyncio.create_task(http.post(url, json=note(f"n{i}"))))
            await asyncio.sleep(0.05)  # the first ten are in flight before the rest
        await asyncio.wait(sent, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(3)
        busy = [t.result() for t in sent if t.done()]
        await handle.terminate("the test is over")
        answers = await asyncio.gather(*sent)
    assert busy and all(r.status_code == 429 for r in busy), [(r.status_code, r.text) for r in busy]
    for r in busy:
        assert r.headers["Retry-After"].isdigit(), r.headers
        assert "retry" in r.json()["detail"], r.text
    assert all(r.status_code < 500 for r in answers), Counter(r.status_code for r in answers)


# --- PostgreSQL down under an Idempotency-Key ---------------------------------------------


@pytest.fixture
async def no_database(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool, worker: None, clean_db: None
) -> AsyncIterator[httpx.AsyncClient]:
    """The API whose idempotency keys live in a database that does not answer (nothing
    listens on its port)."""
    down = settings.model_copy(
        update={"database_url": f"postgresql://nobody@127.0.0.1:{free_port()}/claimflow"}
    )
    app = create_app(down, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    async with in_process(
        app, raise_app_exceptions=False, timeout=30, headers=bearer(settings)
    ) as http:
        yield http


async def test_a_keyed_write_while_the_database_is_down_is_503(no_database, pool):
    r = await no_database.post(
        "/claims", json=wang_opening(), headers={"Idempotency-Key": f"down-{uuid.uuid4()}"}
    )
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"].isdigit()
    assert "database" in r.json()["detail"]
    assert await pool.fetchval("SELECT count(*) FROM claims") == 0


# --- datetimes outside any claim's life ---------------------------------------------------


@pytest.mark.parametrize("when", EXTREMES)
async def test_extreme_datetimes_in_list_filters_are_422(api: httpx.AsyncClient, when: str):
    for name in ("created_from", "created_to", "updated_from", "updated_to"):
        names(await api.get("/claims", params={name: when}), ("query", name), "2000", "2100")
    names(await api.get("/figures", params={"to": when}), ("query", "to"), "2000", "2100")
    names(await api.get("/figures", params={"from": when}), ("query", "from"), "2000", "2100")
    view: dict[str, Any] = {"team": "t", "name": "n", "filters": {"created_from": when}}
    if "created_by" in SavedViewInput.model_fields:
        view["created_by"] = "admin"
    r = await api.post("/views", json=view)
    names(r, ("body", "filters", "created_from"), "2000", "2100")


async def test_figures_near_the_first_year_keep_their_range_inside_it(api: httpx.AsyncClient):
    """The default 30 days before `to` stop at 2000-01-01 (the fuzz run found a 500)."""
    r = await api.get("/figures", params={"to": "2000-01-01T00:01:01Z"})
    assert r.status_code == 200, r.text
    assert r.json()["from"].startswith("2000-01-01T08:00:00+08:00")
    r = await api.get("/figures", params={"to": "2000-01-01T00:00:00Z"})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("when", EXTREMES)
async def test_a_cursor_holding_an_extreme_datetime_is_422(api: httpx.AsyncClient, when: str):
    raw = json.dumps({"sort": "created_at", "order": "desc", "key": when, "id": "CLM-1"})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    r = await api.get("/claims", params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert "cursor" in r.json()["detail"]


@pytest.mark.parametrize("when", EXTREMES)
async def test_an_extreme_due_time_is_422(api: httpx.AsyncClient, when: str):
    claim = await open_claim(api)
    task = await open_task(api, claim["claim_id"], "triage")
    r = await api.patch(f"/tasks/{task['task_id']}", json=task_change(due_at=when))
    names(r, ("body", "due_at"), "2000", "2100")


# --- lone surrogates ----------------------------------------------------------------------


LONE = '"\\ud800"'  # JSON text for a lone high surrogate, which UTF-8 cannot hold


def raw_json(template: dict[str, Any], where: str) -> bytes:
    """`template` as JSON with the string value "@" replaced by a lone surrogate."""
    return json.dumps(template).replace('"@"', LONE).encode() if where == "value" else (
        json.dumps(template).replace('"@":', LONE + ":").encode()
    )


async def test_a_lone_surrogate_in_a_valid_text_is_422(api: httpx.AsyncClient, pool):
    """Text that fits its type but holds a lone surrogate: refused, naming the field."""
    opening = wang_opening(note="@")
    r = await api.post(
        "/claims", content=raw_json(opening, "value"), headers={"Content-Type": "application/json"}
    )
    names(r, ("body", "note"), "unicode")
    claim = await open_claim(api)
    r = await api.post(
        f"/claims/{claim['claim_id']}/notes",
        content=raw_json(note("@"), "value"),
        headers={"Content-Type": "application/json"},
    )
    names(r, ("body", "text"), "unicode")
    assert await pool.fetchval("SELECT count(*) FROM claims") == 1


async def test_a_lone_surrogate_in_an_invalid_input_gives_an_encodable_422(
    api: httpx.AsyncClient,
):
    """The 422 repeats what it refuses (`input`, and a key in `loc`): it must still encode."""
    cases = [
        ("/claims", wang_opening(source="@"), "value", ("body", "source")),
        ("/claims", {**wang_opening(), "@": 1}, "key", None),
        ("/claims", wang_opening(policy="@"), "value", ("body", "policy")),
    ]
    for url, body, where, loc in cases:
        r = await api.post(
            url,
            content=raw_json(body, where),
            headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
        )
        errors = field_errors(r)
        if loc is not None:
            assert loc in errors, errors


# --- money the columns cannot hold --------------------------------------------------------


async def test_expenses_totalling_more_than_the_money_columns_hold_are_422(
    api: httpx.AsyncClient,
):
    """Each line fits numeric(14, 2); three hundred of them at the most do not: refused at
    the door, naming the expenses, instead of failing the workflow task for 20 s."""
    claim = await open_claim(api)
    task = await open_task(api, claim["claim_id"], "triage")
    most = "999999999999.99"
    outcome = {
        "kind": "file_claim",
        "insurer_claim_reference": "EL-1",
        "filed_on": "2026-03-01",
        "expenses": [{"description": f"line {i}", "amount": most} for i in range(2)],
    }
    r = await complete(api, task["task_id"], outcome)
    names(r, ("body", "outcome", "file_claim", "expenses"), "total", most)
    assert limits.MAX_AMOUNT == most


async def test_temporal_failing_for_a_moment_is_503_not_500():
    """While the Temporal server restarts, calls fail as 'transport error' (UNKNOWN): the
    fault suite saw them answered 500. A moment's failure is 503 with Retry-After; only what a
    retry cannot change (a bug, a misconfiguration) stays 500."""
    from temporalio.service import RPCError, RPCStatusCode

    from api.errors import temporal_unavailable_handler

    for status in (RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED, RPCStatusCode.INTERNAL,
                   RPCStatusCode.ABORTED, RPCStatusCode.UNAVAILABLE):  # fmt: skip
        r = await temporal_unavailable_handler(None, RPCError("transport error", status, b""))
        assert r.status_code == 503 and r.headers["retry-after"], status
    r = await temporal_unavailable_handler(
        None, RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b"")
    )
    assert r.status_code == 500
