"""`claimflow bench` / `python -m bench` / `make bench`: run the parts, print a table per part
and one JSON summary (also written to --json PATH)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

PARTS = ("startup", "lifecycle", "baseline", "scale_out", "idle", "read_model")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--claims", type=int, default=300,
                   help="claims driven through their lifecycle (parts 1, 2, 6; default 300)")
    p.add_argument("--concurrency", type=int, default=16,
                   help="claims in flight at once (default 16)")
    p.add_argument("--waiting", type=int, default=20,
                   help="claims left at triage during the lifecycle runs, whose reminder and "
                   "escalations fire under load (default 20)")
    p.add_argument("--reminder-after", type=float, default=20.0,
                   help="seconds after opening when triage reminds, in the lifecycle runs")
    p.add_argument("--idle-claims", type=int, default=10_000,
                   help="claims left waiting in part 4 (default 10,000)")
    p.add_argument("--idle-concurrency", type=int, default=32)
    p.add_argument("--idle-seconds", type=float, default=30.0,
                   help="how long part 4 watches the idle processes' CPU")
    p.add_argument("--read-claims", type=int, default=100_000,
                   help="claims bulk-loaded in part 3, 5 tasks each (default 100,000)")
    p.add_argument("--read-repeats", type=int, default=200, help="runs of each query in part 3")
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated, from: {', '.join(PARTS)} (default: all)")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                   help="py-spy the worker and API during part 1 (default: on where installed)")
    p.add_argument("--json", type=Path, default=None, help="also write the JSON summary here")
    p.add_argument("--keep", action="store_true", help="keep the data folder (logs, profiles)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    from claimflow.logging import configure_logging

    configure_logging("console", "WARNING")
    run_from_args(args)


def run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from bench import report

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}; choose from {PARTS}")
    summary = asyncio.run(run(args, parts))
    text = report.dump(summary)
    say("\nJSON summary\n------------\n" + text)
    if args.json:
        args.json.write_text(text + "\n")
        say(f"\n(written to {args.json})")
    return summary


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _compile_bytecode() -> None:
    """Bytecode for the project's modules, as `pip install .` leaves in a production image.
    Where PYTHONDONTWRITEBYTECODE is set (as on this machine) nothing else writes it, and every
    sandboxed workflow instance would compile workflows/claim.py from source again."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in ("workflows", "domain", "activities", "store", "api", "claimflow", "bench"):
        if (root / package).is_dir():
            compileall.compile_dir(root / package, quiet=2)
    compileall.compile_file(root / "worker.py", quiet=2)


def _command() -> str:
    prog = "claimflow" if Path(sys.argv[0]).name == "claimflow" else "python -m bench"
    return " ".join([prog, *sys.argv[1:]])


def _tuning() -> dict[str, Any]:
    from claimflow.settings import Settings

    s = Settings()
    return {
        name: getattr(s, name)
        for name in Settings.model_fields
        if name.startswith("worker_") or name.startswith("database_pool")
    }


async def run(args: argparse.Namespace, parts: list[str]) -> dict[str, Any]:
    from bench import report, stack

    _compile_bytecode()
    started = time.monotonic()
    summary: dict[str, Any] = {
        "machine": report.machine(),
        "command": _command(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    if k not in ("func",)},
        "tuning": _tuning(),
        "parts": {},
    }
    m = summary["machine"]
    m["busy_before_percent"] = await _busy_before()
    say(f"claimflow bench on {m['cores']} cores ({m['cpu_model']}), {m['memory_gb']} GB,"
        f" Python {m['python']}, temporalio {m['temporalio']}, temporal CLI {m['temporal_cli']}")
    say(f"the machine was {m['busy_before_percent']}% busy (of one core) before the run")
    if m["busy_before_percent"] > 20:
        say("  WARNING: something else is using the CPU; throughput figures will be low")
    say(f"parts: {', '.join(parts)}")
    results = summary["parts"]

    if "startup" in parts:
        from bench import startup

        results["startup"] = await startup.run()
        say(startup.render(results["startup"]))

    needs_servers = [p for p in parts if p != "startup"]
    if needs_servers:
        with stack.servers(keep=args.keep) as servers:
            say(f"(embedded Temporal {servers.address}, PostgreSQL and logs in {servers.base})")
            await _with_servers(args, parts, servers, results)
    summary["total_seconds"] = round(time.monotonic() - started, 1)
    return summary


async def _busy_before(seconds: float = 3) -> float:
    """How busy the machine is before we start (other processes), % of one core."""
    from bench.lifecycle import _busy_cpu

    start = _busy_cpu()
    await asyncio.sleep(seconds)
    return round((_busy_cpu() - start) / seconds * 100, 1)


async def _with_servers(
    args: argparse.Namespace, parts: list[str], servers: Any, results: dict[str, Any]
) -> None:
    from bench import baseline, lifecycle, profile, stack
    from bench.client import add_people
    from store.migrate import migrate

    await migrate(servers.dsn)
    await add_people(servers.dsn)  # the API honours tokens of users on record only
    policy = lifecycle.nudge_policy(args.reminder_after)
    profile_dir = servers.base / "profiles" if args.profile and profile.available() else None
    one = None
    if "lifecycle" in parts:
        async with stack.Deployment(servers, workers=1, apis=1, env=policy, name="one") as d:
            one = await lifecycle.run(
                d, args.claims, args.concurrency, waiting=args.waiting,
                reminder_after=args.reminder_after, profile_dir=profile_dir,
            )
        results["lifecycle"] = one
        say(lifecycle.render(
            f"1. Lifecycle: {args.claims} claims over HTTP, {args.concurrency} at a time,"
            " 1 worker + 1 API", one))

    if "baseline" in parts:
        steps = one["task_completions_per_claim"] if one else 10
        steps = steps if isinstance(steps, int) else max(steps)
        base = await baseline.run(servers, args.claims, steps, args.concurrency)
        results["baseline"] = base
        if one:
            results["ours_vs_baseline"] = baseline.compare(one, base)
            say(baseline.render(base, results["ours_vs_baseline"], one))
        else:
            say(baseline.render(base, {"cpu_ms_per_task_completion": {
                "ours_without_postgres": None, "baseline": None, "ratio": None}}, None))

        if one and profile_dir is not None:
            # Where the gap comes from: histories, and the bare workflow with a claim's payloads.
            hist = await profile.histories(
                servers.address, one.get("sample_claim_id"), base.get("sample_workflow_id"))
            results["histories"] = hist
            claim = hist.get("claim", {})
            updates = claim.get("events_by_kind", {}).get("workflow_execution_update_completed", 0)
            blob = 0
            if updates:
                by = claim["bytes_by_kind"]
                blob = int((by.get("activity_task_scheduled", 0)
                            + by.get("workflow_execution_update_completed", 0)) / (2 * updates))
            heavy = await baseline.run(servers, args.claims, steps, args.concurrency,
                                       blob_bytes=blob)
            results["baseline_with_claim_sized_payloads"] = heavy
            say(profile.render(one.get("profiles") or {}, hist))
            say(report_heavy(base, heavy, one))

    if "scale_out" in parts:
        async with stack.Deployment(servers, workers=2, apis=2, env=policy, name="two") as d:
            two = await lifecycle.run(
                d, args.claims, args.concurrency, waiting=args.waiting,
                reminder_after=args.reminder_after,
            )
        results["scale_out"] = two
        from bench import scale_out

        say(scale_out.render(one, two))

    if "idle" in parts:
        from bench import idle

        results["idle"] = await idle.run(
            servers, args.idle_claims, args.idle_concurrency, args.idle_seconds)
        say(idle.render(results["idle"]))

    if "read_model" in parts:
        from bench import read_model

        results["read_model"] = await read_model.run(
            servers.dsn, args.read_claims, args.read_repeats)
        say(read_model.render(results["read_model"]))


def report_heavy(base: dict[str, Any], heavy: dict[str, Any], ours: dict[str, Any]) -> str:
    from bench.report import table

    rows = []
    for name, r in (("bare, tiny payloads", base), ("bare, claim-sized payloads", heavy),
                    ("claimflow", ours)):
        lat = r["latency_ms"]["task_completion"]
        rows.append((name, r["task_completions_per_second"], lat.get("p50"), lat.get("p99"),
                     r["cpu_percent_of_one_core"].get("temporal_server")))
    return table(
        f"The gap, step by step (claim-sized payload: {heavy['payload_bytes']:,} bytes in each"
        " activity input and update answer)",
        rows, header=("", "completions/s", "p50 ms", "p99 ms", "Temporal CPU %"))
