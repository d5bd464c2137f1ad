"""Where the time goes: py-spy samples of the worker and API processes during a run, folded
into shares per component (what library or layer the time was spent in) and the hottest
functions. py-spy (`pip install py-spy`, in the dev extra) attaches to a running process and
keeps only samples of a thread holding the GIL (`--gil`): Python code running, not a thread
waiting on a queue or the event loop waiting on its sockets. Samples / (rate x seconds) is then
how busy the process's GIL was: near 100%, the process is as busy as one Python process gets.

Also the Temporal histories of one claim and one bare claim: events and bytes by kind, since
what a workflow writes into its history is work for the worker, the server and its database.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.report import table

# First match wins: (component, substrings of a frame's "function (file:line)").
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("logging (structlog, stdlib logging)", ("structlog/", "/logging/__init__", "claimflow/logging")),
    ("workflow sandbox (temporalio)", ("worker/workflow_sandbox/",)),
    ("workflow code (workflows/, domain/)", ("workflows/", "domain/")),
    ("pydantic (validate, serialize)", ("pydantic/", "pydantic_core", "contrib/pydantic")),
    ("Temporal payload conversion", ("temporalio/converter",)),
    ("Temporal SDK worker (activations, activities)", ("temporalio/worker/",)),
    ("Temporal SDK core bridge (Rust calls, protobuf)", ("temporalio/bridge/",)),
    ("Temporal client (updates, queries)", ("temporalio/client", "temporalio/service")),
    ("asyncpg / store", ("asyncpg/", "store/")),
    ("JSON (stdlib)", ("json/",)),
    ("FastAPI / Starlette", ("fastapi/", "starlette/")),
    ("HTTP server (uvicorn, h11, httptools)", ("uvicorn/", "h11/", "httptools")),
    ("api/ code (auth, routes)", ("api/", "jwt/")),
    ("asyncio event loop", ("asyncio/", "uvloop")),
]


def available() -> bool:
    return _py_spy() is not None


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recorder:
    """py-spy sampling one process from `start()` until `stop()` (collapsed stacks)."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self._proc: asyncio.subprocess.Process | None = None
        self._started = 0.0

    async def start(self) -> None:
        exe = _py_spy()
        if exe is None:
            return
        self._proc = await asyncio.create_subprocess_exec(
            exe, "record", "--pid", str(self.pid), "--rate", str(self.rate),
            "--format", "raw", "--output", str(self.out), "--nonblocking", "--gil",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._started = time.monotonic()

    async def stop(self) -> dict[str, Any] | None:
        """The folded profile, or None if py-spy is missing or could not attach."""
        if self._proc is None:
            return None
        seconds = time.monotonic() - self._started
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGINT)
        _, err = await self._proc.communicate()
        if not self.out.exists():
            sys.stderr.write(f"py-spy on {self.pid}: {err.decode(errors='replace')[-500:]}\n")
            return None
        folded = fold(self.out)
        folded["gil_busy_percent"] = round(folded["samples"] / (self.rate * seconds) * 100, 1)
        return folded


def fold(path: Path, top: int = 12) -> dict[str, Any]:
    """Shares of the samples per component (by the innermost frame that names one) and the
    functions with the most samples of their own."""
    by_component: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[_short(frames[-1])] += n
        by_component[_component(frames)] += n
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "components": {k: round(v / total * 100, 1) for k, v in by_component.most_common()},
        "hottest_functions": {k: round(v / total * 100, 1) for k, v in own.most_common(top)},
    }


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in COMPONENTS:
            if any(n in frame for n in needles):
                return name
    return "other"


def _short(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (to/file.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = where.split("/")
    if not name.strip():
        return "(no Python frame: native code)"
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


async def histories(address: str, claim_id: str | None, bare_id: str | None) -> dict[str, Any]:
    """Events and bytes of one claim's history and one bare claim's, by kind."""
    from temporalio.client import Client

    client = await Client.connect(address)
    out: dict[str, Any] = {}
    for name, wid in (("claim", claim_id), ("bare", bare_id)):
        if not wid:
            continue
        history = await client.get_workflow_handle(wid).fetch_history()
        events: Counter[str] = Counter()
        size: Counter[str] = Counter()
        for e in history.events:
            kind = (e.WhichOneof("attributes") or "?").removesuffix("_event_attributes")
            events[kind] += 1
            size[kind] += e.ByteSize()
        out[name] = {
            "workflow_id": wid,
            "events": sum(events.values()),
            "bytes": sum(size.values()),
            "events_by_kind": dict(events.most_common()),
            "bytes_by_kind": dict(size.most_common()),
        }
    return out


def render(profiles: dict[str, Any], hist: dict[str, Any]) -> str:
    out = ""
    for proc, p in profiles.items():
        if not p or not p.get("samples"):
            continue
        rows = list(p["components"].items())
        out += table(
            f"Profile of {proc}: where its Python time goes ({p['samples']} samples holding the"
            f" GIL; GIL busy {p.get('gil_busy_percent')}% of the run)",
            rows, header=("component", "%"))
        out += table(f"Profile of {proc}: hottest functions (own samples)",
                     list(p["hottest_functions"].items()), header=("function", "%"))
    if hist.get("claim") and hist.get("bare"):
        c, b = hist["claim"], hist["bare"]
        kinds = list(dict.fromkeys([*c["events_by_kind"], *b["events_by_kind"]]))
        rows = [("all events", c["events"], b["events"], c["bytes"], b["bytes"])]
        rows += [
            (k, c["events_by_kind"].get(k, 0), b["events_by_kind"].get(k, 0),
             c["bytes_by_kind"].get(k, 0), b["bytes_by_kind"].get(k, 0))
            for k in kinds
        ]
        out += table("Temporal history of one claim vs one bare claim", rows,
                     header=("event", "claim", "bare", "claim bytes", "bare bytes"))
    return out
