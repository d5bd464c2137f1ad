"""Part 6: scale-out on one box. The lifecycle load of part 1 again, with 2 `claimflow worker`
and 2 `claimflow api` processes (requests spread round robin over both APIs) against the same
Temporal server and PostgreSQL: the shape of the multi-machine deployment in
docker-compose.yml. Figures beside the 1 + 1 run, and the integrity check of part 1 over both
workers' output: no task, timeline entry or notification doubled.
"""

from __future__ import annotations

from typing import Any

from bench.integrity import rows as integrity_rows
from bench.report import ratio, table


def render(one: dict[str, Any] | None, two: dict[str, Any]) -> str:
    def lat(r: dict[str, Any] | None, p: str) -> Any:
        return r["latency_ms"]["task_completion"].get(p) if r else None

    def get(r: dict[str, Any] | None, key: str) -> Any:
        return r[key] if r else None

    cpu_two = two["cpu_percent_of_one_core"]
    rows = [
        ("claims completed", get(one, "completed_claims"), two["completed_claims"], None),
        ("errors", get(one, "errors"), two["errors"], None),
        ("claims completed / minute", get(one, "claims_per_minute"), two["claims_per_minute"],
         ratio(two["claims_per_minute"], get(one, "claims_per_minute"))),
        ("task completions / second", get(one, "task_completions_per_second"),
         two["task_completions_per_second"],
         ratio(two["task_completions_per_second"], get(one, "task_completions_per_second"))),
    ]
    for p in ("p50", "p95", "p99"):
        rows.append((f"task completion {p}, ms", lat(one, p), lat(two, p),
                     ratio(lat(two, p), lat(one, p))))
    if one:
        w1 = sum(v for k, v in one["cpu_percent_of_one_core"].items() if k.startswith("worker"))
        a1 = sum(v for k, v in one["cpu_percent_of_one_core"].items() if k.startswith("api"))
    else:
        w1 = a1 = None
    w2 = sum(v for k, v in cpu_two.items() if k.startswith("worker"))
    a2 = sum(v for k, v in cpu_two.items() if k.startswith("api"))
    rows += [
        ("CPU % workers (all)", w1, round(w2, 1), None),
        ("CPU % APIs (all)", a1, round(a2, 1), None),
        ("CPU % Temporal server", one and one["cpu_percent_of_one_core"]["temporal_server"],
         cpu_two["temporal_server"], None),
        ("CPU % whole machine", one and one["cpu_percent_of_one_core"]["machine_busy"],
         cpu_two["machine_busy"], None),
        ("requests per API process", None, " / ".join(map(str, two["requests_per_api"])), None),
        ("CPU % per worker process", None,
         " / ".join(str(v) for k, v in cpu_two.items() if k.startswith("worker")), None),
    ]
    out = table("6. Scale-out on one box: 1 worker + 1 API vs 2 workers + 2 APIs", rows,
                header=("", "1 + 1", "2 + 2", "2+2 / 1+1"))
    out += table("   integrity of the 2 + 2 run", integrity_rows(two["integrity"]))
    return out
