"""Property-based fuzzing of the whole HTTP API from its OpenAPI schema (schemathesis).

Every operation of the served schema gets generated requests, valid (positive) and invalid
(negative), sent over real HTTP as each role in turn (admin, manager, consultant, field agent:
what one role is refused must be documented as well as what another is given) to the app under uvicorn, with the real Temporal
server and PostgreSQL behind it. Every answer must be: no 5xx, a status code the schema
documents for the operation, its documented content type, and a body that conforms to the
schema documented for that status.

Random ids mostly find nothing (404), so every operation on a claim, a task, a saved view, an
agent or a progress link is fuzzed a second time on a real one: a fresh open claim with its
triage task for each, so that generated bodies reach the workflow's validators.

The worker runs on this test's event loop: the server runs here as a task, and the
(synchronous) fuzzing in a thread, so requests that need the workflow are served meanwhile.
Generation is derandomized: a failure found once is found again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.support.claims import add_agent, bearer, open_claim, open_task
from tests.support.server import served

MAX_EXAMPLES = 25
# Who fuzzes: the admin reaches every operation; the others mostly meet their limits, so fewer
# examples find them. The consultant is the real claims' consultant; the agent is dispatched to
# none of them.
PEOPLE = [
    pytest.param("admin", Role.ADMIN, None, MAX_EXAMPLES, id="admin"),
    pytest.param("manager.li", Role.MANAGER, None, 8, id="manager"),
    pytest.param("xiao.gao", Role.CONSULTANT, None, 8, id="consultant"),
    pytest.param("xiao.zheng", Role.FIELD_AGENT, "Beijing", 8, id="field_agent"),
]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ON_A_CLAIM = re.compile(r"\{(claim_id|task_id)\}")
REAL = re.compile(r"\{(claim_id|task_id|view_id|agent_id|token)\}")


@dataclass
class Report:
    failures: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)

    def summary(self) -> str:
        return f"{self.statuses.total()} requests, by status {dict(sorted(self.statuses.items()))}"


@dataclass
class Fuzzer:
    base_url: str
    headers: dict[str, str]
    examples: int = MAX_EXAMPLES
    report: Report = field(default_factory=Report)

    def run(
        self,
        operation: schemathesis.APIOperation,
        mode: schemathesis.GenerationMode,
        path_parameters: dict[str, str] | None = None,
    ) -> None:
        session = requests.Session()
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

        @hypothesis.settings(
            max_examples=self.examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=strategy)
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(
                base_url=self.base_url, session=session, headers=self.headers, timeout=60
            )
            self.report.statuses[response.status_code] += 1
            case.validate_response(
                response,
                checks=CHECKS,
                headers=self.headers,
                transport_kwargs={"base_url": self.base_url},
            )

        label = f"{operation.label} [{mode.value}{', real ids' if path_parameters else ''}]"
        try:
            fuzz()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing to make invalid: no parameters, no body
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, then report
            self.report.failures[label] = str(exc)[:4000]
        finally:
            session.close()


def fuzz_api(
    base_url: str, headers: dict[str, str], real: list[dict[str, str]], examples: int
) -> Report:
    """Every operation with random ids, then those on a claim, task, view, agent or progress
    link with real ones (`real`: one set of ids for each such operation, in schema order)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    fuzzer = Fuzzer(base_url, headers, examples)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in MODES:
            fuzzer.run(operation, mode)
    ids = iter(real)
    for operation in operations:
        names = REAL.findall(operation.path)
        if names:
            given_ids = next(ids) if ON_A_CLAIM.search(operation.path) else real[0]
            for mode in MODES:
                fuzzer.run(operation, mode, {name: given_ids[name] for name in names})
    return fuzzer.report


async def _real_ids(api: httpx.AsyncClient, claims: int, tag: str) -> list[dict[str, str]]:
    """A fresh open claim (with its triage task) for each operation on a claim or a task, and
    one saved view, field agent and progress link that all share."""
    await add_agent(api, "xiao.zheng", "Beijing")
    r = await api.post(
        "/views", json={"team": "fuzz", "name": f"open ({tag})", "filters": {}, "created_by": "admin"}
    )
    assert r.status_code == 201, r.text
    view_id = r.json()["view_id"]
    opened = await asyncio.gather(*(open_claim(api) for _ in range(claims)))
    real = []
    for claim in opened:
        task = await open_task(api, claim["claim_id"], "triage")
        r = await api.post(f"/claims/{claim['claim_id']}/progress-link", json={})
        assert r.status_code == 201, r.text
        real.append(
            {
                "claim_id": claim["claim_id"],
                "task_id": task["task_id"],
                "view_id": view_id,
                "agent_id": "xiao.zheng",
                "token": r.json()["token"],
            }
        )
    return real


@pytest.mark.parametrize(("user_id", "role", "city", "examples"), PEOPLE)
async def test_fuzz_the_whole_api(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal_client: Client,
    pool: asyncpg.Pool,
    user_id: str,
    role: Role,
    city: str | None,
    examples: int,
) -> None:
    r = await api.put(
        f"/users/{user_id}",
        json={"name": user_id, "role": role.value, "city": city, "password": "fuzz-password-1"},
    )
    assert r.status_code == 200, r.text
    paths = (await api.get("/openapi.json")).json()["paths"]
    on_a_claim = sum(len(item) for path, item in paths.items() if ON_A_CLAIM.search(path))
    real = await _real_ids(api, on_a_claim, role.value)
    since = await pool.fetchval("SELECT now()")

    app = create_app(settings, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    started = time.monotonic()
    try:
        async with served(app) as base_url:
            headers = bearer(settings, user_id, role, city)
            report = await asyncio.to_thread(fuzz_api, base_url, headers, real, examples)
    finally:
        # Tables the per-test truncation leaves alone: forget what the fuzzing put there.
        await pool.execute("DELETE FROM users WHERE created_at >= $1", since)
        await pool.execute("DELETE FROM saved_views WHERE created_at >= $1", since)
        await pool.execute("DELETE FROM idempotency_keys WHERE created_at >= $1", since)
        await pool.execute("DELETE FROM webhook_receipts WHERE received_at >= $1", since)
    took = time.monotonic() - started
    print(f"\nfuzzed as {role.value}: {report.summary()} in {took:.0f}s")
    assert not report.failures, "\n\n".join(f"== {k}\n{v}" for k, v in report.failures.items())
