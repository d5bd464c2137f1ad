"""The completion path's door: the task and the caller's standing on its claim in one query,
deciding exactly as `check_claim_access` and `check_task_access` do."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import HTTPException

from api.auth import Principal, check_claim_access, check_task_access, task_for
from api.claims_client import ClaimError
from api.errors import STATUS
from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase
from domain.vocabulary import Role
from store import read_model
from tests.support.people import provision


class CountingPool:
    """A pool that counts the round trips made through it."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._pool, name)
        if name in {"fetch", "fetchrow", "fetchval", "execute", "executemany", "acquire"}:
            self.calls += 1
        return attr


CALLERS = [
    Principal(user_id=CONSULTANT, role=Role.CONSULTANT),
    Principal(user_id="xiao.li", role=Role.CONSULTANT),
    Principal(user_id=AGENT, role=Role.FIELD_AGENT, city="Beijing"),
    Principal(user_id="xiao.wu", role=Role.FIELD_AGENT, city="Beijing"),
    Principal(user_id="manager.zhao", role=Role.MANAGER),
]


async def _old_rules(pool: Any, user: Principal, task_id: str, to_act: bool) -> int:
    """The answer of the two-step door this replaces: 200, 403 or 404."""
    try:
        task = await read_model.get_task(pool, task_id)
        if task is None:
            return 404
        own_open = task.assignee == user.user_id and task.status == "open"
        if not user.oversees and not own_open:
            await check_claim_access(pool, user, task.claim_id)
        if to_act:
            check_task_access(user, task)
    except HTTPException as exc:
        return exc.status_code
    return 200


async def _new_rules(pool: Any, user: Principal, task_id: str, to_act: bool) -> int:
    try:
        await task_for(pool, user, task_id, to_act=to_act)
    except HTTPException as exc:
        return exc.status_code
    except ClaimError as exc:  # no such task: the workflow's own answer
        return STATUS[exc.rejection]
    return 200


@pytest.mark.parametrize("to_act", [False, True])
async def test_one_query_same_answers(api: httpx.AsyncClient, pool, settings, to_act: bool):
    for user in CALLERS:  # the door reads each caller's current state from the users table
        provision(settings, user.user_id, user.role, user.city)
    case = ReferenceCase(api)
    await case.register_agent()
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()
    await case.xiao_zheng_accepts()
    gather = (await case.task("gather_documents"))["task_id"]
    # An unassigned task of the field agents' role on the same claim, and one of another claim.
    await pool.execute(
        "UPDATE tasks SET assignee = NULL WHERE task_id = $1", gather
    )
    triage = await pool.fetchval(
        "SELECT task_id FROM tasks WHERE claim_id = $1 AND kind = 'triage'", case.claim_id
    )
    answers = {}
    for user in CALLERS:
        for task_id in (gather, triage, "TSK-no-such-task"):
            counted = CountingPool(pool)
            new = await _new_rules(counted, user, task_id, to_act)
            assert counted.calls == 1, f"{user.user_id} {task_id}: {counted.calls} round trips"
            assert new == await _old_rules(pool, user, task_id, to_act), (user, task_id)
            answers[(user.user_id, task_id)] = new
    assert answers[(AGENT, gather)] == 200  # his claim, his role, nobody's task
    assert answers[("xiao.wu", gather)] == 403  # not his claim
    assert answers[("manager.zhao", gather)] == 200
    assert answers[(CONSULTANT, "TSK-no-such-task")] == 404
    # The consultant works the claim: he sees the agents' task, but may not complete it.
    assert answers[(CONSULTANT, gather)] == (403 if to_act else 200)
