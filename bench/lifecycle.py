"""Part 1: claims driven through their whole lifecycle over HTTP, with bounded concurrency.

Each claim is Mr. Wang's case (`claimflow.reference_case`), step by step as the people in the
brief would act, each request with the credentials of the person acting. The latency of a task
completion is the `POST /tasks/{id}/complete` request to its response with the claim's new
state; finding the task first (`GET /tasks?claim_id=`) is timed apart.

Beside the lifecycle claims, a few claims are opened and left waiting at triage under a
triage policy of seconds, so that their reminder and two escalations fire during the load: the
integrity check then proves every notification was written and sent exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import integrity
from bench.client import api_client, auth_headers, spread_counts
from bench.profile import Recorder
from bench.report import percentiles, table
from bench.stack import Deployment, cpu_of, rss_mb_of
from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase

NOTIFICATIONS_PER_WAITING_CLAIM = 3  # reminder, escalation-1, escalation-2 ("overdue" is not sent)


def nudge_policy(reminder_after: float) -> dict[str, str]:
    """Environment of the API processes: triage reminds `reminder_after` seconds after it
    opens, is due twice that, and escalates 1 s and 2 s after its due time. Lifecycle claims
    complete triage within a second of opening; waiting claims get all three nudges."""
    policy = {
        "triage": {
            "due": 2 * reminder_after,
            "remind_before": reminder_after,
            "business_time": False,
            "escalations": [
                {"after": 1, "recipient": "team-lead"},
                {"after": 2, "recipient": "claims-manager"},
            ],
        }
    }
    return {"CLAIMFLOW_TASK_POLICIES": json.dumps(policy)}


def last_nudge_after(reminder_after: float) -> float:
    return 2 * reminder_after + 2


def signed_in() -> dict[str, dict[str, str]]:
    """The people of Mr. Wang's case, each with his own credentials."""
    return {
        CONSULTANT: auth_headers(CONSULTANT, "consultant"),
        AGENT: auth_headers(AGENT, "field_agent", "Beijing"),
    }


class TimedCase(ReferenceCase):
    """Mr. Wang's case, each person acting with his own credentials, each request timed."""

    def __init__(self, http: httpx.AsyncClient, timings: dict[str, list[float]], key: str):
        super().__init__(http, signed_in=signed_in())
        self.timings = timings
        self.key = key
        self.completions = 0
        self._kind = ""

    async def register_agent(self) -> None:  # done once per run, by a manager
        return None

    async def return_visit_opens_case(self, key: str | None = None) -> dict[str, Any]:
        return await super().return_visit_opens_case(key or self.key)

    async def complete(self, kind: str, by: str, **outcome: Any) -> dict[str, Any]:
        self._kind = kind
        view = await super().complete(kind, by, **outcome)
        self.completions += 1
        return view

    async def _call(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        if method == "POST" and url.endswith("/complete"):
            what = "complete"
        elif method == "POST" and url == "/claims":
            what = "open"
        elif method == "GET" and url == "/tasks":
            what = "find_task"
        else:
            what = "other_update"
        start = time.perf_counter()
        result = await super()._call(method, url, *args, **kw)
        took = time.perf_counter() - start
        self.timings[what].append(took)
        if what == "complete":  # per task kind too: where the tail comes from
            self.timings[f"complete:{self._kind}"].append(took)
        return result


async def register_agent(http: httpx.AsyncClient) -> None:
    r = await http.put(f"/field-agents/{AGENT}", json={"name": "Xiao Zheng", "city": "Beijing"})
    r.raise_for_status()


async def open_waiting(http: httpx.AsyncClient, tag: str, count: int) -> list[str]:
    """Claims left at triage: their clocks fire while the lifecycle load runs."""
    ids = []
    for i in range(count):
        case = TimedCase(http, defaultdict(list), f"{tag}-waiting-{i}")
        await case.return_visit_opens_case()
        ids.append(case.claim_id)
    return ids


async def drive(
    http: httpx.AsyncClient, n: int, concurrency: int, tag: str
) -> dict[str, Any]:
    """N claims through their whole lifecycle, at most `concurrency` at once."""
    timings: dict[str, list[float]] = defaultdict(list)
    claim_seconds: list[float] = []
    claim_ids: list[str] = []
    completions: list[int] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            case = TimedCase(http, timings, f"{tag}-{i}")
            start = time.perf_counter()
            try:
                view = await case.run()
                if view.get("status") != "closed":
                    raise RuntimeError(f"claim {case.claim_id} ended {view.get('status')}")
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                errors.append(f"{case.claim_id or i}: {type(exc).__name__}: {str(exc)[:300]}")
                return
            claim_seconds.append(time.perf_counter() - start)
            claim_ids.append(case.claim_id)
            completions.append(case.completions)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "timings": timings,
        "claim_seconds": claim_seconds,
        "claim_ids": claim_ids,
        "completions": completions,
        "errors": errors,
    }


async def run(
    deployment: Deployment,
    claims: int,
    concurrency: int,
    *,
    waiting: int = 0,
    reminder_after: float = 20.0,
    warmup: int = 2,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """The lifecycle load against a started deployment; figures, per-process cost, integrity."""
    tag = f"{deployment.name}-{uuid.uuid4().hex[:6]}"
    async with api_client(deployment.urls, connections=max(concurrency * 2, 10)) as http:
        await register_agent(http)
        if warmup:
            await drive(http, warmup, warmup, f"{tag}-warmup")
        waiting_opened = time.monotonic()
        waiting_ids = await open_waiting(http, tag, waiting)

        recorders = {}
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            for p in deployment.processes:
                recorders[p.name] = Recorder(p.pid, profile_dir / f"{deployment.name}-{p.name}.txt")
                await recorders[p.name].start()
            await asyncio.sleep(1)  # py-spy attaches
        servers = deployment.servers
        temporal = [p for p in [servers.temporal_process()] if p]
        cpu_before = {p.name: p.cpu_seconds() for p in deployment.processes}
        t_before, pg_before = cpu_of(temporal), cpu_of(servers.postgres_processes())
        me = psutil.Process()
        driver_before, machine_before = _own_cpu(me), _busy_cpu()
        counts_before = spread_counts(http)

        result = await drive(http, claims, concurrency, tag)
        profiles = {name: await r.stop() for name, r in recorders.items()}

        wall = result["wall"]
        cpu = {p.name: p.cpu_seconds() - cpu_before[p.name] for p in deployment.processes}
        # Backends started during the run count from zero; those that ended are missed.
        t_after, pg_after = cpu_of(temporal), cpu_of(servers.postgres_processes())
        temporal_cpu = sum(t_after.get(k, 0) - v for k, v in t_before.items())
        postgres_cpu = sum(pg_after.get(k, 0) - pg_before.get(k, 0) for k in pg_after)
        driver_cpu = _own_cpu(me) - driver_before
        machine_cpu = _busy_cpu() - machine_before
        rss = {p.name: round(p.rss_mb(), 1) for p in deployment.processes}
        requests_per_api = [a - b for a, b in zip(spread_counts(http), counts_before, strict=True)]

        # The waiting claims' last nudge fires 2 x reminder + 2 s after they opened.
        remaining = waiting_opened + last_nudge_after(reminder_after) + 3 - time.monotonic()
        check = await integrity.check(
            servers.dsn,
            result["claim_ids"],
            result["completions"],
            waiting_ids,
            NOTIFICATIONS_PER_WAITING_CLAIM,
            deployment.worker_procs,
            wait=max(remaining, 0) + 30 if waiting else 0,
        )

    t = result["timings"]
    done = len(result["claim_ids"])
    total_completions = sum(result["completions"])
    requests = sum(len(v) for v in t.values())
    per_claim = sorted(set(result["completions"]))
    return {
        "claims": claims,
        "concurrency": concurrency,
        "workers": deployment.workers,
        "apis": deployment.apis,
        "completed_claims": done,
        "errors": len(result["errors"]),
        "error_samples": result["errors"][:5],
        "wall_seconds": round(wall, 2),
        "claims_per_minute": round(done / wall * 60, 1),
        "task_completions_per_claim": per_claim[0] if len(per_claim) == 1 else per_claim,
        "task_completions": total_completions,
        "task_completions_per_second": round(total_completions / wall, 2),
        "http_requests_per_second": round(requests / wall, 1),
        "latency_ms": {
            "task_completion": percentiles(t["complete"]),
            "open_claim": percentiles(t["open"]),
            "find_task": percentiles(t["find_task"]),
            "checklist_update": percentiles(t["other_update"]),
            "claim_lifecycle": percentiles(result["claim_seconds"]),
        },
        "task_completion_by_kind_ms": {
            k.removeprefix("complete:"): percentiles(v)
            for k, v in sorted(t.items())
            if k.startswith("complete:")
        },
        "cpu_seconds": {
            **{k: round(v, 1) for k, v in cpu.items()},
            "temporal_server": round(temporal_cpu, 1),
            "postgres": round(postgres_cpu, 1),
            "load_driver": round(driver_cpu, 1),
            "machine_busy": round(machine_cpu, 1),
        },
        "cpu_percent_of_one_core": {
            **{k: round(v / wall * 100, 1) for k, v in cpu.items()},
            "temporal_server": round(temporal_cpu / wall * 100, 1),
            "postgres": round(postgres_cpu / wall * 100, 1),
            "load_driver": round(driver_cpu / wall * 100, 1),
            "machine_busy": round(machine_cpu / wall * 100, 1),
        },
        "rss_mb": {**rss, "temporal_server": round(rss_mb_of(temporal), 1)},
        "requests_per_api": requests_per_api,
        "integrity": check,
        "profiles": profiles,
        "sample_claim_id": result["claim_ids"][0] if result["claim_ids"] else None,
    }


def _own_cpu(me: psutil.Process) -> float:
    t = me.cpu_times()
    return t.user + t.system


def _busy_cpu() -> float:
    """CPU seconds the whole machine was busy (all cores, all processes)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0)


def render(title: str, r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    rows = [
        ("claims completed", f"{r['completed_claims']} / {r['claims']} ({r['errors']} errors)"),
        ("workers + API processes", f"{r['workers']} + {r['apis']}"),
        ("concurrency (claims in flight)", r["concurrency"]),
        ("wall time, s", r["wall_seconds"]),
        ("claims completed / minute", r["claims_per_minute"]),
        ("task completions / claim", r["task_completions_per_claim"]),
        ("task completions / second", r["task_completions_per_second"]),
        ("HTTP requests / second", r["http_requests_per_second"]),
    ]
    for name, key in (
        ("task completion", "task_completion"),
        ("open claim", "open_claim"),
        ("find task (GET /tasks)", "find_task"),
        ("checklist update", "checklist_update"),
    ):
        p = lat[key]
        if p.get("n"):
            rows.append((f"{name} p50 / p95 / p99, ms", f"{p['p50']} / {p['p95']} / {p['p99']}"))
    for kind, p in r.get("task_completion_by_kind_ms", {}).items():
        rows.append((f"  {kind} p50 / p99, ms", f"{p['p50']} / {p['p99']}"))
    rows.append(("whole claim p50, s", round(lat["claim_lifecycle"].get("p50", 0) / 1000, 2)))
    for k, v in r["cpu_percent_of_one_core"].items():
        rows.append((f"CPU % of a core: {k}", v))
    for k, v in r["rss_mb"].items():
        rows.append((f"RSS MB: {k}", v))
    if r["apis"] > 1:
        rows.append(("requests per API process", " / ".join(map(str, r["requests_per_api"]))))
    rows += integrity.rows(r["integrity"])
    out = table(title, rows)
    if r["error_samples"]:
        out += "  errors: " + "\n          ".join(r["error_samples"]) + "\n"
    return out
