"""`claimflow bench` works: a small run of every part against real servers.

Benchmarks are not timed tests: this checks the report's shape, that its figures are there and
positive, and that nothing was doubled; never how fast anything was.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.run import add_arguments, run_from_args


def bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def positive(*values: object) -> bool:
    return all(isinstance(v, int | float) and v > 0 for v in values)


def test_a_small_bench_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    summary = run_from_args(
        bench_args(
            "--claims", "3", "--concurrency", "3",
            "--waiting", "1", "--reminder-after", "2",
            "--idle-claims", "10", "--idle-seconds", "1",
            "--read-claims", "1000", "--read-repeats", "3",
            "--parts", "lifecycle,baseline,scale_out,idle,read_model",
            "--no-profile", "--json", str(out),
        )
    )
    assert json.loads(out.read_text())["parts"].keys() == summary["parts"].keys()
    m = summary["machine"]
    assert positive(m["cores"], m["memory_gb"]) and m["python"] and m["temporalio"]
    parts = summary["parts"]

    for name in ("lifecycle", "scale_out"):
        r = parts[name]
        assert (r["completed_claims"], r["errors"]) == (3, 0), r["error_samples"]
        assert r["task_completions_per_claim"] == 10
        lat = r["latency_ms"]["task_completion"]
        assert lat["n"] == 30 and positive(lat["p50"], lat["p95"], lat["p99"])
        assert positive(r["claims_per_minute"], r["task_completions_per_second"])
        check = r["integrity"]
        assert check["ok"], check
        assert check["tasks_found"] == check["tasks_expected"] == 30
        assert check["notifications_sent"] == check["notifications_expected"] == 3
        assert (check["tasks_doubled"], check["timeline_doubled"]) == (0, 0)
        assert check["notifications_sent_twice"] == 0
    assert parts["scale_out"]["workers"] == parts["scale_out"]["apis"] == 2
    assert all(n > 0 for n in parts["scale_out"]["requests_per_api"])

    base = parts["baseline"]
    assert (base["completed_claims"], base["errors"], base["steps_per_claim"]) == (3, 0, 10)
    assert positive(base["task_completions_per_second"], base["latency_ms"]["task_completion"]["p50"])
    ratios = parts["ours_vs_baseline"]
    assert positive(ratios["claims_per_minute"], ratios["task_completion_p50"])

    idle = parts["idle"]
    assert (idle["opened"], idle["errors"]) == (10, 0)
    assert positive(idle["before"]["worker_rss_mb"], idle["after_open"]["worker_rss_mb"])
    assert idle["idle"]["worker_cpu_percent"] >= 0
    assert idle["after_worker_restart"]["completed_after_restart"] == 10

    read = parts["read_model"]
    assert (read["load"]["claims"], read["load"]["tasks"]) == (1000, 5000)
    assert len(read["queries"]) >= 10
    for q in read["queries"].values():
        assert positive(q["latency_ms"]["p50"], q["plan"]["statements"])
