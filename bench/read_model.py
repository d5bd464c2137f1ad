"""Part 3: the read model at scale. A database of its own on the benchmark's PostgreSQL, all
migrations applied, bulk-loaded (COPY) with N claims and 5 tasks each (100,000 and 500,000 by
default), analysed; then the queries the API runs, through the store's own functions
(`store.read_model`, `store.figures`): p50/p99 of each over varied parameters, and the plan
of every statement each one sends (EXPLAIN with the same parameters): which indexes it uses
and whether it reads a large table from end to end (Seq Scan).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from bench.report import percentiles, table
from bench.stack import with_database
from claimflow.reference_case import OPENING
from domain.checklist import checklist_for
from domain.models import ClaimOpening, ClaimView
from domain.vocabulary import ClaimStage, ClaimStatus, ClaimType, Closure, DiscoverySource
from store import figures as store_figures
from store import claim_list, read_model
from store.db import create_pool
from store.migrate import migrate

CITIES = [
    "Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Wuhan", "Chengdu", "Xi'an", "Hangzhou",
    "Nanjing", "Tianjin", "Chongqing", "Suzhou", "Changsha", "Zhengzhou", "Qingdao", "Shenyang",
    "Dalian", "Xiamen", "Kunming", "Harbin",
]
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu",
            "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo"]
CONSULTANTS = [f"consultant.{i:03d}" for i in range(200)]
AGENTS = [f"agent.{i:03d}" for i in range(500)]
OPEN_STAGES = [
    (ClaimStage.TRIAGE, 8), (ClaimStage.DISPATCH, 4), (ClaimStage.DOCUMENT_GATHERING, 14),
    (ClaimStage.VERIFICATION, 6), (ClaimStage.FILING, 4), (ClaimStage.PRE_DECISION_EXPLANATION, 3),
    (ClaimStage.INSURER_REVIEW, 16), (ClaimStage.PAYOUT_EXPLANATION, 3), (ClaimStage.DISPUTE, 2),
]
# The lifecycle's tasks in order: (kind, role); the fifth is the open one of an open claim.
TASK_KINDS = [
    ("triage", "consultant"), ("accept_dispatch", "field_agent"),
    ("gather_documents", "field_agent"), ("verify_documents", "consultant"),
    ("record_insurer_response", "consultant"),
]
CLAIM_COLUMNS = (
    "claim_id", "stage", "status", "closure", "policyholder_name", "policy_number", "city",
    "source", "claim_type", "consultant", "created_at", "updated_at", "closed_at", "version",
    "snapshot", "field_agent", "insurer_claim_reference", "expected_payout", "awarded_amount",
    "stalled", "stalled_since",
)
TASK_COLUMNS = (
    "task_id", "claim_id", "kind", "role", "assignee", "status", "created_at", "due_at",
    "completed_at", "completed_by", "data", "result", "version", "priority", "escalation_level",
)


def _template(stage: ClaimStage) -> dict[str, Any]:
    now = datetime.now(UTC)
    view = ClaimView(
        claim_id="CLM-0000000000000000",
        stage=stage,
        status=ClaimStatus.CLOSED if stage is ClaimStage.CLOSED else ClaimStatus.OPEN,
        opening=ClaimOpening.model_validate(OPENING),
        created_at=now,
        updated_at=now,
        summary="Mr. Wang, 78, Beijing: cerebral infarction in 2021, hospitalised at Beijing "
        "Jishuitan Hospital; medical reimbursement plan P-2019-000123 with Example Life. " * 3,
        checklist=checklist_for(ClaimType.MEDICAL_REIMBURSEMENT),
    )
    return view.model_dump(mode="json")


def generate(claims: int, seed: int = 7) -> tuple[list[tuple], list[tuple]]:
    """Rows for COPY: `claims` claims (40% closed) and 5 tasks each."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    stages = [s for s, w in OPEN_STAGES for _ in range(w)]
    templates = {s: _template(s) for s in [*[s for s, _ in OPEN_STAGES], ClaimStage.CLOSED]}
    sources = list(DiscoverySource)
    types = list(ClaimType)
    claim_rows: list[tuple] = []
    task_rows: list[tuple] = []
    for n in range(claims):
        claim_id = f"CLM-{n:016X}"
        closed = rnd.random() < 0.4
        stage = ClaimStage.CLOSED if closed else rnd.choice(stages)
        created = now - timedelta(seconds=rnd.uniform(0, 365 * 86400))
        updated = min(now, created + timedelta(seconds=rnd.uniform(0, 30 * 86400)))
        city = rnd.choice(CITIES)
        consultant = rnd.choice(CONSULTANTS)
        offline = rnd.random() < 0.6
        agent = rnd.choice(AGENTS) if offline else None
        name = f"{'Mr.' if rnd.random() < 0.5 else 'Ms.'} {rnd.choice(SURNAMES)} {n % 997}"
        policy = f"P-{2015 + n % 10}-{n:07d}"
        stalled = (not closed) and rnd.random() < 0.02
        expected = Decimal(rnd.randint(1000, 200000)) if closed or rnd.random() < 0.3 else None
        snapshot = dict(templates[stage])
        snapshot.update(
            claim_id=claim_id,
            created_at=created.isoformat(),
            updated_at=updated.isoformat(),
            field_agent=agent,
        )
        claim_rows.append((
            claim_id, stage.value, "closed" if closed else "open",
            Closure.PAID_AND_EXPLAINED.value if closed else None, name, policy, city,
            rnd.choice(sources).value, rnd.choice(types).value, consultant, created, updated,
            updated if closed else None, 40, json.dumps(snapshot), agent,
            f"EL-{n:08X}" if expected is not None else None, expected,
            expected if closed else None, stalled, updated if stalled else None,
        ))
        step = (updated - created) / 5
        for seq, (kind, role) in enumerate(TASK_KINDS, start=1):
            is_open = not closed and seq == 5
            t_created = created + step * (seq - 1)
            if is_open:  # due somewhere around now: about a fifth are overdue
                due = now + timedelta(hours=rnd.uniform(-48, 200))
            else:
                due = t_created + timedelta(hours=16)
            done = None if is_open else t_created + timedelta(seconds=rnd.uniform(60, 30 * 3600))
            who = agent if role == "field_agent" and agent else consultant
            task_rows.append((
                f"{claim_id}-T{seq}", claim_id, kind, role, who,
                "open" if is_open else "completed", t_created, due, done,
                None if is_open else who, "{}", None if is_open else '{"ok": true}', 40,
                "normal", 0,
            ))
    return claim_rows, task_rows


async def load(dsn: str, claims: int) -> dict[str, Any]:
    start = time.perf_counter()
    claim_rows, task_rows = generate(claims)
    generated = time.perf_counter() - start
    conn = await asyncpg.connect(dsn)  # no JSON codec: jsonb goes in as text
    try:
        start = time.perf_counter()
        await conn.copy_records_to_table("claims", records=claim_rows, columns=CLAIM_COLUMNS)
        await conn.copy_records_to_table("tasks", records=task_rows, columns=TASK_COLUMNS)
        copied = time.perf_counter() - start
        start = time.perf_counter()
        await conn.execute("VACUUM ANALYZE claims")
        await conn.execute("VACUUM ANALYZE tasks")
        analysed = time.perf_counter() - start
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {
        "claims": len(claim_rows),
        "tasks": len(task_rows),
        "generate_seconds": round(generated, 1),
        "copy_seconds": round(copied, 1),
        "rows_per_second": round((len(claim_rows) + len(task_rows)) / copied),
        "vacuum_analyze_seconds": round(analysed, 1),
        "database_mb": round(size / 2**20),
    }


# --- recording the statements a store function sends -------------------------------------


class _Recorder:
    """A pool or connection that notes every statement and passes it on."""

    def __init__(self, target: Any, statements: list[tuple[str, tuple]]) -> None:
        self._t = target
        self.statements = statements

    async def fetch(self, sql: str, *args: Any, **kw: Any) -> Any:
        self.statements.append((sql, args))
        return await self._t.fetch(sql, *args, **kw)

    async def fetchrow(self, sql: str, *args: Any, **kw: Any) -> Any:
        self.statements.append((sql, args))
        return await self._t.fetchrow(sql, *args, **kw)

    async def fetchval(self, sql: str, *args: Any, **kw: Any) -> Any:
        self.statements.append((sql, args))
        return await self._t.fetchval(sql, *args, **kw)

    def transaction(self, **kw: Any) -> Any:
        return self._t.transaction(**kw)

    def acquire(self) -> _Acquire:
        return _Acquire(self)


class _Acquire:
    def __init__(self, rec: _Recorder) -> None:
        self.rec = rec

    async def __aenter__(self) -> _Recorder:
        self.cm = self.rec._t.acquire()  # noqa: SLF001
        return _Recorder(await self.cm.__aenter__(), self.rec.statements)

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.cm.__aexit__(*exc)


def _walk(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _walk(child)
    return nodes


async def explain(pool: asyncpg.Pool, statements: list[tuple[str, tuple]]) -> dict[str, Any]:
    """Indexes used and large tables read whole, over every statement."""
    indexes: set[str] = set()
    seq_scans: set[str] = set()
    async with pool.acquire() as conn:
        for sql, args in statements:
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            for node in _walk(plan):
                if node.get("Index Name"):
                    indexes.add(node["Index Name"])
                if node.get("Node Type") == "Seq Scan" and node.get("Relation Name"):
                    seq_scans.add(node["Relation Name"])
    return {
        "statements": len(statements),
        "indexes": sorted(indexes),
        "seq_scans": sorted(seq_scans),
        "uses_indexes": bool(indexes) and not seq_scans & {"claims", "tasks"},
    }


# --- the queries ------------------------------------------------------------------------

Query = Callable[[Any, random.Random], Awaitable[Any]]


def queries(now: datetime, claims: int) -> dict[str, Query]:
    F = claim_list.ClaimQuery

    def page(f: Callable[[random.Random], Any], limit: int = 50) -> Query:
        return lambda pool, r: claim_list.list_claims(pool, f(r), limit=limit, cursor=None)

    async def second_page(pool: Any, r: random.Random) -> Any:
        f = F(city=r.choice(CITIES))
        first = await claim_list.list_claims(pool, f, limit=50, cursor=None)
        return await claim_list.list_claims(pool, f, limit=50, cursor=first.next_cursor)

    async def count_stage(pool: Any, r: random.Random) -> Any:
        sql, args = claim_list.claims_count_query(F(stage=r.choice(OPEN_STAGES)[0].value))
        return await pool.fetchval(sql, *args)

    async def count_consultant_open(pool: Any, r: random.Random) -> Any:
        sql, args = claim_list.claims_count_query(
            F(consultant=r.choice(CONSULTANTS), status="open")
        )
        return await pool.fetchval(sql, *args)

    return {
        "inbox: consultant's open tasks": lambda pool, r: read_model.inbox(
            pool, assignee=r.choice(CONSULTANTS), role=None, status="open", limit=100),
        "inbox: field agent's open tasks": lambda pool, r: read_model.inbox(
            pool, assignee=r.choice(AGENTS), role=None, status="open", limit=100),
        "inbox: a role's open tasks": lambda pool, r: read_model.inbox(
            pool, assignee=None, role=r.choice(["consultant", "field_agent"]), status="open",
            limit=100),
        "inbox: one claim's tasks": lambda pool, r: read_model.inbox(
            pool, assignee=None, role=None, status=None,
            claim_id=f"CLM-{r.randrange(claims):016X}", limit=100),
        "list: newest claims": page(lambda r: F()),
        "list: stage": page(lambda r: F(stage=r.choice(OPEN_STAGES)[0].value)),
        "list: city + open": page(lambda r: F(city=r.choice(CITIES), status="open")),
        "list: consultant": page(lambda r: F(consultant=r.choice(CONSULTANTS))),
        "list: field agent": page(lambda r: F(field_agent=r.choice(AGENTS))),
        "list: overdue": page(lambda r: F(overdue=True)),
        "list: stalled": page(lambda r: F(stalled=True)),
        "list: name search (q)": page(lambda r: F(q=f"{r.choice(SURNAMES)} {r.randrange(997)}")),
        "list: policy number (q)": page(lambda r: F(q=f"{r.randrange(10**6):06d}")),
        "list: created last 7 days": page(lambda r: F(created_from=now - timedelta(days=7))),
        "list: recently updated": page(lambda r: F(sort=claim_list.ClaimSort.UPDATED_AT)),
        "list: second page (cursor)": second_page,
        "count: claims in a stage": count_stage,
        "count: consultant's open claims": count_consultant_open,
        "figures: last 30 days": lambda pool, r: store_figures.figures(
            pool, now - timedelta(days=30), now),
    }


async def run(server_dsn: str, claims: int = 100_000, repeats: int = 200) -> dict[str, Any]:
    name = f"bench_read_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = with_database(server_dsn, name)
    try:
        await migrate(dsn)
        loaded = await load(dsn, claims)
        pool = await create_pool(dsn, max_size=4)
        try:
            now = datetime.now(UTC)
            results: dict[str, Any] = {}
            for qname, query in queries(now, loaded["claims"]).items():
                r = random.Random(qname)
                statements: list[tuple[str, tuple]] = []
                await query(_Recorder(pool, statements), r)  # warm, and what it sends
                plan = await explain(pool, statements)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    await query(pool, r)
                    times.append(time.perf_counter() - start)
                results[qname] = {"latency_ms": percentiles(times), "plan": plan}
        finally:
            await pool.close()
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return {"load": loaded, "repeats": repeats, "queries": results}


def render(r: dict[str, Any]) -> str:
    ld = r["load"]
    out = table(
        f"3. Read model at scale: {ld['claims']:,} claims, {ld['tasks']:,} tasks",
        [
            ("bulk load (COPY), s", ld["copy_seconds"]),
            ("rows / second", ld["rows_per_second"]),
            ("VACUUM ANALYZE, s", ld["vacuum_analyze_seconds"]),
            ("database size, MB", ld["database_mb"]),
        ],
    )
    rows = []
    for qname, q in r["queries"].items():
        lat, plan = q["latency_ms"], q["plan"]
        rows.append((
            qname, lat["p50"], lat["p95"], lat["p99"], plan["uses_indexes"],
            ", ".join(plan["indexes"]) or "-",
            ", ".join(plan["seq_scans"]) or "-",
        ))
    out += table(
        f"Queries through store/ ({r['repeats']} runs each, varied parameters)",
        rows,
        header=("query", "p50 ms", "p95 ms", "p99 ms", "indexed", "indexes", "seq scans"),
    )
    return out
