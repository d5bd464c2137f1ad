"""Part 2: the baseline. A bare Temporal workflow with the same number of human steps as a
claim, each step one Update whose handler runs one trivial activity and answers after it,
driven by the Temporal SDK client directly (no HTTP, no read model, no pydantic converter).

Like a claim, a bare claim opens with an update-with-start (that update runs one activity too),
then takes `steps` Updates one after another. Its worker is a subprocess of its own
(`python -m bench.baseline worker ADDRESS TASK_QUEUE`) on its own task queue, with the same
worker options and event loop (CLAIMFLOW_WORKER_*) as claimflow's worker, against the same
Temporal server, with the SDK's default data converter (no pydantic, no encryption).

This module is imported into the workflow sandbox: nothing runs at import time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow


@activity.defn(name="bare_step")
async def bare_step(n: int, blob: str) -> int:
    return n + 1


@workflow.defn(name="BareClaim")
class BareClaim:
    def __init__(self) -> None:
        self.steps = 0

    @workflow.run
    async def run(self, total: int) -> int:
        await workflow.wait_condition(lambda: self.steps >= total)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.steps

    @workflow.update
    async def step(self, who: str, blob_bytes: int) -> dict[str, Any]:
        """One human step: one trivial activity, answered once it is done. `blob_bytes` > 0
        makes the activity's input and the update's answer that big (like a claim's)."""
        blob = "x" * blob_bytes
        self.steps = await workflow.execute_activity(
            bare_step, args=[self.steps, blob], start_to_close_timeout=timedelta(seconds=30)
        )
        return {"steps": self.steps, "by": who, "state": blob}


# --- the worker (a subprocess) ----------------------------------------------------------


async def _serve(address: str, task_queue: str) -> None:
    import signal

    from temporalio.client import Client
    from temporalio.worker import Worker

    from claimflow.settings import Settings
    from worker import worker_options

    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareClaim],
        activities=[bare_step],
        **worker_options(Settings()),
    ):
        print("worker_started", flush=True)
        await stop.wait()


def worker_argv(address: str, task_queue: str) -> list[str]:
    return [sys.executable, "-m", "bench.baseline", "worker", address, task_queue]


# --- the driver -------------------------------------------------------------------------


async def drive(
    address: str,
    task_queue: str,
    claims: int,
    steps: int,
    concurrency: int,
    tag: str,
    blob_bytes: int = 0,
) -> dict[str, Any]:
    from temporalio.client import Client, WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    client = await Client.connect(address)
    opens: list[float] = []
    completions: list[float] = []
    claim_seconds: list[float] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            start = time.perf_counter()
            try:
                op = WithStartWorkflowOperation(
                    BareClaim.run,
                    steps + 1,
                    id=f"bare-{tag}-{i}",
                    task_queue=task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                await client.execute_update_with_start_workflow(
                    BareClaim.step, args=["opener", blob_bytes], start_workflow_operation=op
                )
                opens.append(time.perf_counter() - start)
                handle = await op.workflow_handle()
                for _ in range(steps):
                    t = time.perf_counter()
                    await handle.execute_update(BareClaim.step, args=["person", blob_bytes])
                    completions.append(time.perf_counter() - t)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                errors.append(f"{i}: {type(exc).__name__}: {str(exc)[:300]}")
                return
            claim_seconds.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(claims)))
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "opens": opens,
        "completions": completions,
        "claim_seconds": claim_seconds,
        "errors": errors,
    }


async def run(
    servers: Any,
    claims: int,
    steps: int,
    concurrency: int,
    warmup: int = 2,
    blob_bytes: int = 0,
) -> dict[str, Any]:
    from bench.report import percentiles
    from bench.stack import Proc, _env, cpu_of, rss_mb_of, wait_for_log

    task_queue = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    (servers.base / "logs").mkdir(exist_ok=True)
    proc = Proc(
        "baseline-worker",
        worker_argv(servers.address, task_queue),
        _env(servers, task_queue, None),
        servers.base / "logs" / f"baseline-worker-{task_queue}.log",
    )
    try:
        await wait_for_log(proc, "worker_started", 60)
        tag = uuid.uuid4().hex[:6]
        if warmup:
            await drive(servers.address, task_queue, warmup, steps, warmup, f"{tag}-warmup")
        temporal = [p for p in [servers.temporal_process()] if p]
        import psutil

        from bench.lifecycle import _busy_cpu, _own_cpu

        me = psutil.Process()
        cpu0, t0 = proc.cpu_seconds(), cpu_of(temporal)
        d0, m0 = _own_cpu(me), _busy_cpu()
        r = await drive(
            servers.address, task_queue, claims, steps, concurrency, tag, blob_bytes
        )
        wall = r["wall"]
        worker_cpu = proc.cpu_seconds() - cpu0
        driver_cpu, machine_cpu = _own_cpu(me) - d0, _busy_cpu() - m0
        t1 = cpu_of(temporal)
        temporal_cpu = sum(t1.get(k, 0) - v for k, v in t0.items())
        rss = proc.rss_mb()
    finally:
        proc.stop()
    done = len(r["claim_seconds"])
    n_completions = len(r["completions"])
    return {
        "claims": claims,
        "steps_per_claim": steps,
        "concurrency": concurrency,
        "worker": "subprocess (python -m bench.baseline worker), own task queue",
        "payload_bytes": blob_bytes,
        "sample_workflow_id": f"bare-{tag}-0",
        "completed_claims": done,
        "errors": len(r["errors"]),
        "error_samples": r["errors"][:5],
        "wall_seconds": round(wall, 2),
        "claims_per_minute": round(done / wall * 60, 1),
        "task_completions": n_completions,
        "task_completions_per_second": round(n_completions / wall, 2),
        "latency_ms": {
            "task_completion": percentiles(r["completions"]),
            "open_claim": percentiles(r["opens"]),
            "claim_lifecycle": percentiles(r["claim_seconds"]),
        },
        "cpu_percent_of_one_core": {
            "worker": round(worker_cpu / wall * 100, 1),
            "temporal_server": round(temporal_cpu / wall * 100, 1),
            "load_driver": round(driver_cpu / wall * 100, 1),
            "machine_busy": round(machine_cpu / wall * 100, 1),
        },
        "cpu_seconds": {
            "worker": round(worker_cpu, 1),
            "temporal_server": round(temporal_cpu, 1),
            "load_driver": round(driver_cpu, 1),
            "machine_busy": round(machine_cpu, 1),
        },
        "rss_mb": {"worker": round(rss, 1), "temporal_server": round(rss_mb_of(temporal), 1)},
    }


def compare(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Our figures as a ratio of the baseline's (throughput: >1 is faster; latency: >1 slower)."""
    from bench.report import ratio

    lat_o, lat_b = ours["latency_ms"], base["latency_ms"]
    skip = ("postgres", "load_driver", "machine_busy")
    cpu_o = sum(v for k, v in ours["cpu_seconds"].items() if k not in skip)
    out: dict[str, Any] = {
        "claims_per_minute": ratio(ours["claims_per_minute"], base["claims_per_minute"]),
        "task_completions_per_second": ratio(
            ours["task_completions_per_second"], base["task_completions_per_second"]
        ),
    }
    for p in ("p50", "p95", "p99"):
        out[f"task_completion_{p}"] = ratio(
            lat_o["task_completion"].get(p), lat_b["task_completion"].get(p)
        )
    out["open_claim_p50"] = ratio(lat_o["open_claim"].get("p50"), lat_b["open_claim"].get("p50"))
    out["whole_claim_p50"] = ratio(
        lat_o["claim_lifecycle"].get("p50"), lat_b["claim_lifecycle"].get("p50")
    )
    # CPU per task completion: ours (workers + APIs + Temporal) / baseline (worker + Temporal).
    ours_per = cpu_o / max(ours["task_completions"], 1)
    cpu_b = base["cpu_seconds"]["worker"] + base["cpu_seconds"]["temporal_server"]
    base_per = cpu_b / max(base["task_completions"], 1)
    out["cpu_ms_per_task_completion"] = {
        "what": "ours: workers + APIs + Temporal server; bare: worker + Temporal server",
        "ours_without_postgres": round(ours_per * 1000, 1),
        "baseline": round(base_per * 1000, 1),
        "ratio": ratio(ours_per, base_per),
    }
    return out


def render(base: dict[str, Any], cmp: dict[str, Any], ours: dict[str, Any] | None) -> str:
    from bench.report import table

    lat = base["latency_ms"]
    o = ours["latency_ms"] if ours else None

    def row(name: str, b: Any, key: str | None, ours_value: Any = None) -> tuple:
        return (name, ours_value, b, cmp.get(key) if key else None)

    rows = [
        row("claims completed / minute", base["claims_per_minute"], "claims_per_minute",
            ours and ours["claims_per_minute"]),
        row("task completions / second", base["task_completions_per_second"],
            "task_completions_per_second", ours and ours["task_completions_per_second"]),
    ]
    for p in ("p50", "p95", "p99"):
        rows.append(row(f"task completion {p}, ms", lat["task_completion"].get(p),
                        f"task_completion_{p}", o and o["task_completion"].get(p)))
    rows.append(row("open claim p50, ms", lat["open_claim"].get("p50"), "open_claim_p50",
                    o and o["open_claim"].get("p50")))
    rows.append(row("whole claim p50, ms", lat["claim_lifecycle"].get("p50"), "whole_claim_p50",
                    o and o["claim_lifecycle"].get("p50")))
    c = cmp["cpu_ms_per_task_completion"]
    rows.append(("CPU ms / task completion (no PG)", c["ours_without_postgres"], c["baseline"],
                 c["ratio"]))
    rows.append(("worker CPU % of a core", ours and ours["cpu_percent_of_one_core"].get("worker-0"),
                 base["cpu_percent_of_one_core"]["worker"], None))
    rows.append(("Temporal server CPU % of a core",
                 ours and ours["cpu_percent_of_one_core"]["temporal_server"],
                 base["cpu_percent_of_one_core"]["temporal_server"], None))
    title = (
        f"2. Baseline: bare workflow, {base['steps_per_claim']} Update+activity steps, SDK client,"
        f" {base['claims']} claims x {base['concurrency']} ({base['errors']} errors)"
    )
    return table(title, rows, header=("", "claimflow", "bare SDK", "ours / bare"))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        # The workflow must come from `bench.baseline`, not `__main__`: the sandbox re-imports it.
        from bench.baseline import _serve as serve
        from claimflow.settings import Settings
        from worker import run_loop

        run_loop(serve(sys.argv[2], sys.argv[3]), Settings())
    else:
        raise SystemExit("usage: python -m bench.baseline worker TEMPORAL_ADDRESS TASK_QUEUE")
