"""Part 5: start-up. Seconds from `claimflow up` (a subprocess: embedded Temporal with its Web
UI, embedded PostgreSQL, migrations, worker, API, all on free ports, in a fresh data folder)
to `/readyz` answering 200; then Ctrl-C (SIGINT), and proof it exited and left no Temporal or
PostgreSQL process behind. Run twice: a cold start (empty folder: initdb, new SQLite file,
every migration) and a warm one (the same folder again).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.report import table
from bench.stack import claimflow_command, wait_ready
from claimflow.embedded import EmbeddedPostgres, free_port

UNSET = ("TEMPORAL_ADDRESS", "CLAIMFLOW_TEMPORAL_ADDRESS", "DATABASE_URL", "CLAIMFLOW_DATABASE_URL")


def _using(folder: Path) -> list[psutil.Process]:
    """Processes whose command line names the folder (temporal's db file, postgres -D)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(folder) in part for part in p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


async def once(data: Path, log: Path, timeout: float = 120) -> dict[str, Any]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        {
            "CLAIMFLOW_DATA_DIR": str(data),
            "CLAIMFLOW_API_PORT": str(port),
            "CLAIMFLOW_TEMPORAL_PORT": str(free_port()),
            "CLAIMFLOW_TEMPORAL_UI_PORT": str(free_port()),
        }
    )
    start = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            claimflow_command("up"), env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await wait_ready(f"http://127.0.0.1:{port}", timeout, proc)
        ready = time.monotonic() - start
        children = sorted({p.name() for p in _using(data)} | {
            c.name() for c in psutil.Process(proc.pid).children(recursive=True)})
        stop_start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        stopped = time.monotonic() - stop_start
        left: list[psutil.Process] = []
        for _ in range(50):  # give the servers a moment to go
            left = _using(data)
            if not left:
                break
            await asyncio.sleep(0.1)
        return {
            "ready_seconds": round(ready, 2),
            "processes_while_up": children,
            "exit_code": code,
            "stop_seconds": round(stopped, 2),
            "left_behind": [f"{p.pid} {p.name()}" for p in left],
        }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in _using(data):  # never leave servers behind, whatever happened
            if p.name() == "temporal":
                p.kill()
        EmbeddedPostgres.force_stop(data / "postgres")


async def run() -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="claimflow-bench-up-"))
    os.chmod(base, 0o755)
    try:
        data = base / "data"
        cold = await once(data, base / "up.log")
        warm = await once(data, base / "up.log")
        log = (base / "up.log").read_text(errors="replace")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ok = all(r["exit_code"] == 0 and not r["left_behind"] for r in (cold, warm))
    return {"cold": cold, "warm": warm, "clean_exit": ok, "log_tail": log[-1500:] if not ok else ""}


def render(r: dict[str, Any]) -> str:
    c, w = r["cold"], r["warm"]
    rows = [
        ("`claimflow up` to /readyz 200, s", c["ready_seconds"], w["ready_seconds"]),
        ("SIGINT to exit, s", c["stop_seconds"], w["stop_seconds"]),
        ("exit code", c["exit_code"], w["exit_code"]),
        ("processes left behind", len(c["left_behind"]), len(w["left_behind"])),
        ("processes while up", ", ".join(c["processes_while_up"]), ", ".join(w["processes_while_up"])),
    ]
    out = table("5. Start-up: `claimflow up` (embedded Temporal + UI, PostgreSQL, worker, API)",
                rows, header=("", "cold (new folder)", "warm (same folder)"))
    if r.get("log_tail"):
        out += "  up.log (end):\n" + r["log_tail"] + "\n"
    return out
