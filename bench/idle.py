"""Part 4: long waits cost nothing. Open N claims (POST /claims, bounded concurrency) and
leave them waiting at triage, as a consultant's queue does, under the default service policy
(their SLA timers are hours away and live on the Temporal server, not in the worker). Then:
the worker's RSS before and after, the CPU every process uses while nothing happens, and a
worker restart: its memory with every claim still waiting, and claims completed after it
(replayed from their histories by the new worker).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.client import api_client
from bench.lifecycle import TimedCase, _busy_cpu
from bench.report import percentiles, table
from bench.stack import Deployment, Servers, cpu_of, rss_mb_of


def _timings(key: str, into: list[float]) -> defaultdict[str, list[float]]:
    timings: defaultdict[str, list[float]] = defaultdict(list)
    timings[key] = into
    return timings


def _dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


async def _open_many(http: Any, tag: str, n: int, concurrency: int) -> tuple[list[str], list[float], list[str]]:
    ids: list[str] = []
    latencies: list[float] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            case = TimedCase(http, _timings("open", latencies), f"{tag}-{i}")
            try:
                await case.return_visit_opens_case()
                ids.append(case.claim_id)
            except Exception as exc:  # noqa: BLE001 - counted
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return ids, latencies, errors


async def run(
    servers: Servers,
    claims: int = 10_000,
    concurrency: int = 32,
    idle_seconds: float = 30,
    warmup: int = 20,
) -> dict[str, Any]:
    tag = f"idle-{uuid.uuid4().hex[:6]}"
    temporal = [p for p in [servers.temporal_process()] if p]
    async with Deployment(servers, name="idle") as d, api_client(d.urls, connections=concurrency * 2) as http:
        worker = d.worker_procs[0]
        await _open_many(http, f"{tag}-warmup", warmup, min(warmup, concurrency))
        await asyncio.sleep(2)
        before = {
            "worker_rss_mb": round(worker.rss_mb(), 1),
            "api_rss_mb": round(d.api_procs[0].rss_mb(), 1),
            "temporal_rss_mb": round(rss_mb_of(temporal), 1),
            "temporal_db_mb": _dir_mb(servers.temporal.data_dir),
        }

        start = time.perf_counter()
        ids, latencies, errors = await _open_many(http, tag, claims, concurrency)
        open_wall = time.perf_counter() - start
        after_open = {
            "worker_rss_mb": round(worker.rss_mb(), 1),
            "api_rss_mb": round(d.api_procs[0].rss_mb(), 1),
            "temporal_rss_mb": round(rss_mb_of(temporal), 1),
            "temporal_db_mb": _dir_mb(servers.temporal.data_dir),
        }

        # Idle: nothing is asked of anyone. What does each process burn?
        await asyncio.sleep(5)
        postgres = servers.postgres_processes()
        w0, a0 = worker.cpu_seconds(), d.api_procs[0].cpu_seconds()
        t0, p0, m0 = cpu_of(temporal), cpu_of(postgres), _busy_cpu()
        await asyncio.sleep(idle_seconds)
        idle = {
            "seconds": idle_seconds,
            "worker_cpu_percent": round((worker.cpu_seconds() - w0) / idle_seconds * 100, 2),
            "api_cpu_percent": round((d.api_procs[0].cpu_seconds() - a0) / idle_seconds * 100, 2),
            "temporal_cpu_percent": round(
                sum(cpu_of(temporal).get(k, 0) - v for k, v in t0.items()) / idle_seconds * 100, 2),
            "postgres_cpu_percent": round(
                sum(cpu_of(postgres).get(k, 0) - v for k, v in p0.items()) / idle_seconds * 100, 2),
            "machine_busy_percent": round((_busy_cpu() - m0) / idle_seconds * 100, 1),
            "worker_rss_mb": round(worker.rss_mb(), 1),
        }

        # A new worker: the claims live on the server, not in the old worker's memory.
        new = await d.restart_worker(0)
        await asyncio.sleep(2)
        restarted = {"worker_rss_mb": round(new.rss_mb(), 1)}
        sample = ids[: min(20, len(ids))]
        resumed: list[float] = []
        resume_errors: list[str] = []
        for claim_id in sample:
            case = TimedCase(http, _timings("complete", resumed), "")
            case.claim_id = claim_id
            try:
                await case.xiao_gao_triages()
            except Exception as exc:  # noqa: BLE001 - counted
                resume_errors.append(f"{claim_id}: {type(exc).__name__}: {str(exc)[:200]}")
        restarted["completed_after_restart"] = len(resumed)
        restarted["completion_after_restart_ms"] = percentiles(resumed)
        restarted["errors"] = resume_errors[:5]
        restarted["worker_rss_mb_after_completions"] = round(new.rss_mb(), 1)
        cached = await _running(servers, d.task_queue)

    growth = after_open["worker_rss_mb"] - before["worker_rss_mb"]
    return {
        "claims": claims,
        "opened": len(ids),
        "errors": len(errors),
        "error_samples": errors[:5],
        "concurrency": concurrency,
        "open_seconds": round(open_wall, 1),
        "opens_per_second": round(len(ids) / open_wall, 1),
        "open_latency_ms": percentiles(latencies),
        "running_workflows": cached,
        "before": before,
        "after_open": after_open,
        "worker_rss_growth_mb": round(growth, 1),
        "worker_rss_kb_per_waiting_claim": round(growth * 1024 / max(len(ids), 1), 2),
        "idle": idle,
        "after_worker_restart": restarted,
    }


async def _running(servers: Servers, task_queue: str) -> int | None:
    from temporalio.client import Client

    try:
        client = await Client.connect(servers.address)
        count = await client.count_workflows(
            f'TaskQueue="{task_queue}" AND ExecutionStatus="Running"'
        )
        return count.count
    except Exception:  # noqa: BLE001 - a figure we can do without
        return None


def render(r: dict[str, Any]) -> str:
    b, a, i, x = r["before"], r["after_open"], r["idle"], r["after_worker_restart"]
    lat = r["open_latency_ms"]
    rows = [
        ("claims opened and waiting", f"{r['opened']:,} / {r['claims']:,} ({r['errors']} errors)"),
        ("running workflows on the server", r["running_workflows"]),
        ("opened in, s (concurrency)", f"{r['open_seconds']} ({r['concurrency']})"),
        ("opens / second", r["opens_per_second"]),
        ("open p50 / p95 / p99, ms", f"{lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')}"),
        ("worker RSS before / after, MB", f"{b['worker_rss_mb']} / {a['worker_rss_mb']}"),
        ("worker RSS per waiting claim, KB", r["worker_rss_kb_per_waiting_claim"]),
        ("API RSS before / after, MB", f"{b['api_rss_mb']} / {a['api_rss_mb']}"),
        ("Temporal server RSS before / after, MB", f"{b['temporal_rss_mb']} / {a['temporal_rss_mb']}"),
        ("Temporal SQLite files before / after, MB", f"{b['temporal_db_mb']} / {a['temporal_db_mb']}"),
        (f"idle {i['seconds']:.0f} s: worker CPU %", i["worker_cpu_percent"]),
        ("idle: API CPU %", i["api_cpu_percent"]),
        ("idle: Temporal server CPU %", i["temporal_cpu_percent"]),
        ("idle: PostgreSQL CPU %", i["postgres_cpu_percent"]),
        ("idle: whole machine busy %", i["machine_busy_percent"]),
        ("new worker RSS, every claim waiting, MB", x["worker_rss_mb"]),
        ("triages completed after restart", f"{x['completed_after_restart']} ({len(x['errors'])} errors)"),
        ("... their latency p50 / p99, ms (replay)",
         f"{x['completion_after_restart_ms'].get('p50')} / {x['completion_after_restart_ms'].get('p99')}"),
    ]
    return table(f"4. Long waits: {r['opened']:,} claims waiting on a consultant", rows)
