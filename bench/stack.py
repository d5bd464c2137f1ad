"""The real processes a benchmark runs against.

`Servers`: an embedded Temporal dev server (headless, free port) and an embedded PostgreSQL in
a temporary folder, shared by the parts of one run. `Deployment`: `claimflow worker` and
`claimflow api` processes against them (subprocesses, so each one's RSS and CPU can be read
with psutil), on a task queue of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil

from bench.client import AUTH_SECRET
from claimflow.embedded import EmbeddedPostgres, EmbeddedTemporal, free_port


def claimflow_command(*args: str) -> list[str]:
    """`claimflow ...` as installed into this virtualenv (the console script)."""
    script = Path(sys.executable).parent / "claimflow"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from claimflow.cli import main; main()", *args]


def with_database(dsn: str, name: str) -> str:
    """The same server, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Servers:
    base: Path
    temporal: EmbeddedTemporal
    postgres: EmbeddedPostgres
    address: str
    dsn: str

    def temporal_process(self) -> psutil.Process | None:
        proc = self.temporal._proc  # noqa: SLF001 - ours
        return psutil.Process(proc.pid) if proc else None

    def postgres_processes(self) -> list[psutil.Process]:
        pidfile = self.postgres.data_dir / "postmaster.pid"
        try:
            master = psutil.Process(int(pidfile.read_text().split()[0]))
            return [master, *master.children(recursive=True)]
        except (OSError, ValueError, psutil.Error):
            return []


@contextlib.contextmanager
def servers(base: Path | None = None, keep: bool = False) -> Iterator[Servers]:
    """Temporal and PostgreSQL for one benchmark run, in a temporary folder."""
    owned = base is None
    base = Path(tempfile.mkdtemp(prefix="claimflow-bench-")) if base is None else base
    base.mkdir(parents=True, exist_ok=True)
    # PostgreSQL runs as another user when we are root: it must reach its folder.
    os.chmod(base, 0o755)
    temporal = EmbeddedTemporal(base / "temporal", port=free_port(), ui_port=None)
    postgres = EmbeddedPostgres(base / "postgres")
    temporal.start()
    try:
        dsn = postgres.start()
        yield Servers(base, temporal, postgres, temporal.address, dsn)
    finally:
        temporal.stop()
        postgres.stop()
        if owned and not keep:
            shutil.rmtree(base, ignore_errors=True)


class Proc:
    """One child process: its log file, RSS and CPU time."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.ps = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_events(self) -> Iterator[dict]:
        """The JSON log lines of the process (CLAIMFLOW_LOG_FORMAT=json)."""
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    yield json.loads(line)

    def stop(self, timeout: float = 30) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


@functools.lru_cache(maxsize=1)
def payload_keys() -> dict[str, str]:
    """Payloads encrypted as in production (`claimflow up` keeps a key too), one key a run."""
    try:
        from claimflow.codec import new_key_spec
    except ImportError:  # a version without payload encryption
        return {}
    return {"CLAIMFLOW_PAYLOAD_KEYS": new_key_spec("bench")}


def _env(servers: Servers, task_queue: str, extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(payload_keys())
    env.update(
        {
            "TEMPORAL_ADDRESS": servers.address,
            "DATABASE_URL": servers.dsn,
            "CLAIMFLOW_TEMPORAL_TASK_QUEUE": task_queue,
            "CLAIMFLOW_LOG_FORMAT": "json",
            "CLAIMFLOW_AUTH_SECRET": AUTH_SECRET,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Deployment:
    """`workers` x `claimflow worker` and `apis` x `claimflow api` on one task queue."""

    servers: Servers
    workers: int = 1
    apis: int = 1
    env: dict[str, str] = field(default_factory=dict)
    name: str = "run"
    task_queue: str = ""
    worker_procs: list[Proc] = field(default_factory=list)
    api_procs: list[Proc] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.task_queue = self.task_queue or f"bench-{self.name}-{uuid.uuid4().hex[:6]}"
        self.logs = self.servers.base / "logs"
        self.logs.mkdir(exist_ok=True)

    def start_worker(self, n: int) -> Proc:
        env = _env(self.servers, self.task_queue, self.env)
        return Proc(
            f"worker-{n}",
            claimflow_command("worker"),
            env,
            self.logs / f"{self.name}-worker-{n}-{uuid.uuid4().hex[:4]}.log",
        )

    async def start(self, timeout: float = 60) -> Deployment:
        for n in range(self.workers):
            self.worker_procs.append(self.start_worker(n))
        for n in range(self.apis):
            port = free_port()
            env = _env(self.servers, self.task_queue, {**self.env, "CLAIMFLOW_API_PORT": str(port)})
            self.api_procs.append(
                Proc(f"api-{n}", claimflow_command("api"), env, self.logs / f"{self.name}-api-{n}.log")
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        await asyncio.gather(
            *(wait_for_log(p, "worker_started", timeout) for p in self.worker_procs),
            *(wait_ready(u, timeout, p) for u, p in zip(self.urls, self.api_procs, strict=True)),
        )
        return self

    async def restart_worker(self, n: int = 0, timeout: float = 60) -> Proc:
        self.worker_procs[n].stop()
        self.worker_procs[n] = self.start_worker(n)
        await wait_for_log(self.worker_procs[n], "worker_started", timeout)
        return self.worker_procs[n]

    @property
    def processes(self) -> list[Proc]:
        return [*self.worker_procs, *self.api_procs]

    def stop(self) -> None:
        for p in self.processes:
            p.stop()

    async def __aenter__(self) -> Deployment:
        try:
            return await self.start()
        except BaseException:
            self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self.stop()


async def wait_for_log(proc: Proc, event: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if event in proc.log_text():
            return
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_text()[-3000:]}")
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{proc.name}: no {event} in {timeout}s:\n{proc.log_text()[-3000:]}")


async def wait_ready(url: str, timeout: float, proc: Proc | subprocess.Popen | None = None) -> float:
    """Poll `url`/readyz until it answers 200; the seconds it took."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() - start < timeout:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return time.monotonic() - start
            alive = proc.alive() if isinstance(proc, Proc) else (proc is None or proc.poll() is None)
            if not alive:
                text = proc.log_text()[-3000:] if isinstance(proc, Proc) else ""
                raise RuntimeError(f"{url}: the process exited before it was ready\n{text}")
            await asyncio.sleep(0.02)
    raise TimeoutError(f"{url} was not ready in {timeout}s")


def cpu_of(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def rss_mb_of(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20
