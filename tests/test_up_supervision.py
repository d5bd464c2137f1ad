"""Issue 11, items 10, 11 (files) and 13: `claimflow up` supervises its parts, stops its own
orphans after a SIGKILL and never takes another listener for its server; the worker shuts down
gracefully; /readyz and POST /claims tell when no worker polls the task queue; the data folder
is the owner's only; `claimflow reconcile` finds a running `up` by itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from structlog.testing import capture_logs
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.embedded import (
    EmbeddedPostgres,
    EmbeddedTemporal,
    PortInUse,
    _wait_for_port,
    free_port,
    temporal_orphans,
)
from claimflow.runtime import supervise
from claimflow.settings import Settings
from tests.support.claims import bearer, wang_opening
from tests.support.server import in_process
from worker import worker_options

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from claimflow.cli import main; main()"]


# --- supervision, without servers ----------------------------------------------------------


class FakeWorker:
    """Crashes `crashes` times (one instance each), then runs until shut down."""

    made = 0

    def __init__(self, crashes: int) -> None:
        FakeWorker.made += 1
        self.crash = FakeWorker.made <= crashes
        self.stopped = asyncio.Event()
        self.shut_down = False

    async def run(self) -> None:
        if self.crash:
            await asyncio.sleep(0.01)
            raise RuntimeError("poller failed for good")
        await self.stopped.wait()

    async def shutdown(self) -> None:
        self.shut_down = True
        self.stopped.set()


async def test_a_crashed_worker_is_restarted_with_backoff_and_stopped_gracefully() -> None:
    FakeWorker.made = 0
    made: list[FakeWorker] = []

    def make() -> FakeWorker:
        made.append(FakeWorker(crashes=2))
        return made[-1]

    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(
            supervise("worker", make, stop, backoff_first=0.05, backoff_max=1)
        )
        while len(made) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert not task.done()
        stop.set()
        restarts = await asyncio.wait_for(task, 5)
    assert restarts == 2
    events = [e["event"] for e in logs]
    assert events.count("worker_crashed") == 2 and events.count("worker_restarting") == 2
    crashed = [e for e in logs if e["event"] == "worker_crashed"]
    assert "poller failed for good" in crashed[0]["error"]
    assert [e["restart_in"] for e in crashed] == [0.05, 0.1]  # doubling
    assert made[-1].shut_down and events[-1] == "worker_stopped"


def test_the_worker_lets_running_activities_finish_on_sigterm() -> None:
    assert Settings().worker_graceful_shutdown > timedelta(0)
    options = worker_options(Settings(worker_graceful_shutdown=timedelta(seconds=7)))
    assert options["graceful_shutdown_timeout"] == timedelta(seconds=7)


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_another_listener_on_the_port_is_never_taken_for_our_server() -> None:
    with _listener() as sock:
        port = sock.getsockname()[1]
        # A process of ours that does not listen: the foreign listener must not satisfy the wait.
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            with pytest.raises(TimeoutError):
                _wait_for_port("127.0.0.1", port, 1.0, proc)
        finally:
            proc.kill()
            proc.wait()


def test_embedded_temporal_refuses_a_port_held_by_another_process(tmp_path: Path) -> None:
    with _listener() as sock:
        port = sock.getsockname()[1]
        temporal = EmbeddedTemporal(tmp_path / "temporal", port=port, ui_port=None)
        started = time.monotonic()
        with pytest.raises(PortInUse, match=f"127.0.0.1:{port}.*not ours"):
            temporal.start()
        assert time.monotonic() - started < 5
        assert temporal.pid is None and not temporal_orphans(temporal.db_file)


# --- no worker on the task queue (the session's servers) -----------------------------------


async def test_without_a_worker_readyz_says_so_and_opening_a_claim_answers_503_quickly(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool
) -> None:
    queue = f"claims-nobody-{uuid.uuid4().hex[:8]}"
    claims = ClaimsClient(temporal_client, pool, queue, open_timeout=2)
    app = create_app(settings.model_copy(update={"temporal_task_queue": queue}), claims)
    async with in_process(
        app, raise_app_exceptions=False, timeout=30, headers=bearer(settings)
    ) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["temporal"] == "ok" and ready.json()["postgres"] == "ok"
        assert ready.json()["worker"].startswith("unavailable: no worker polling"), ready.text

        started = time.monotonic()
        r = await http.post(
            "/claims", json=wang_opening(), headers={"Idempotency-Key": f"nobody-{uuid.uuid4()}"}
        )
        took = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After")
        assert took < 10, took


async def test_readyz_sees_the_worker(api: httpx.AsyncClient) -> None:
    r = await api.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["worker"] == "ok"


# --- `claimflow up` itself ------------------------------------------------------------------


class Up:
    """`claimflow up` as a subprocess on a data folder and free ports of the test's own."""

    def __init__(self, data: Path, api_port: int, temporal_port: int) -> None:
        self.data = data
        self.log = data.parent / "up.log"
        self.url = f"http://127.0.0.1:{api_port}"
        self.env = _bare_env(
            CLAIMFLOW_DATA_DIR=str(data),
            CLAIMFLOW_API_PORT=str(api_port),
            CLAIMFLOW_TEMPORAL_PORT=str(temporal_port),
            CLAIMFLOW_TEMPORAL_UI="false",
            CLAIMFLOW_HEALTH_CHECK_EVERY="PT0S",
            CLAIMFLOW_UP_RESTART_BACKOFF_MAX="PT2S",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*CLI, "up"], env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.proc

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def running(self) -> dict:
        return json.loads((self.data / "running.json").read_text())

    async def ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=3) as http:
            while time.monotonic() < deadline:
                assert self.proc and self.proc.poll() is None, self.log_text()[-3000:]
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(self.log_text()[-3000:])

    async def signed_in(self) -> httpx.AsyncClient:
        http = httpx.AsyncClient(base_url=self.url, timeout=30)
        password = (self.data / "admin-password").read_text().strip()
        r = await http.post("/auth/token", data={"username": "admin", "password": password})
        assert r.status_code == 200, r.text
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return http

    def cleanup(self) -> None:
        """Whatever happened, leave nothing running."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in temporal_orphans(self.data / "temporal" / "temporal.db"):
            psutil.Process(pid).kill()
        EmbeddedPostgres.force_stop(self.data / "postgres")


def _bare_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLAIMFLOW_", "TEMPORAL_")) and k != "DATABASE_URL"}  # fmt: skip
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _owner_only(data: Path) -> list[str]:
    """Files and folders under the data folder (PostgreSQL's own aside) others may read."""
    loose = []
    for path in [data, *data.rglob("*")]:
        if "postgres" in path.relative_to(data).parts:
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o044:  # readable by group or others
            loose.append(f"{path.relative_to(data)} {oct(mode)}")
    return loose


async def test_up_survives_a_sigkill_of_itself_and_supervises_temporal(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", free_port(), free_port())
    try:
        up.start()
        await up.ready()
        http = await up.signed_in()
        r = await http.post(
            "/claims", json=wang_opening(), headers={"Idempotency-Key": f"up-{uuid.uuid4()}"}
        )
        assert r.status_code == 201, r.text
        claim_id = r.json()["claim_id"]

        # Item 11: the data folder's files are the owner's only.
        assert (up.data / "temporal" / "temporal.db").exists()
        assert _owner_only(up.data) == []

        # Item 13: reconcile finds the running `up` with nothing in the environment.
        rec = subprocess.run(
            [*CLI, "reconcile", "--settle", "0.5"],
            env=_bare_env(CLAIMFLOW_DATA_DIR=str(up.data), CLAIMFLOW_LOG_LEVEL="WARNING"),
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert "claims checked: 1" in rec.stdout and "differences: 0" in rec.stdout, rec.stdout

        # A second `up` on the same folder refuses instead of fighting over it.
        second = subprocess.run(
            [*CLI, "up"], env={**up.env, "CLAIMFLOW_API_PORT": str(free_port())}, cwd=ROOT,
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert second.returncode != 0 and "already running" in second.stderr, second.stderr

        # Supervision: Temporal dies under `up`; it is started again and nothing is lost.
        first_temporal = up.running()["temporal_pid"]
        os.kill(first_temporal, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "temporal_restarted" not in up.log_text():
            assert time.monotonic() < deadline, up.log_text()[-3000:]
            await asyncio.sleep(0.1)
        assert "temporal_exited" in up.log_text()
        await up.ready()
        got = await http.get(f"/claims/{claim_id}")
        assert got.status_code == 200, got.text
        await http.aclose()

        # The fault: `up` itself is killed with SIGKILL; its Temporal server is left running.
        orphan = up.running()["temporal_pid"]
        assert orphan != first_temporal
        os.kill(up.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        up.proc.wait()  # type: ignore[union-attr]
        assert _alive(orphan)

        # The next `up` stops the orphan, starts its own server, and every claim is there.
        offset = len(up.log_text())
        up.start()
        await up.ready()
        after = up.log_text()[offset:]
        assert "orphan_stopped" in after, after[-3000:]
        assert not _alive(orphan)
        assert up.running()["temporal_pid"] != orphan
        http = await up.signed_in()
        got = await http.get(f"/claims/{claim_id}")
        assert got.status_code == 200, got.text
        assert got.json()["stage"] == "triage"
        await http.aclose()

        # Ctrl-C stops everything it started.
        up.proc.send_signal(signal.SIGINT)  # type: ignore[union-attr]
        assert up.proc.wait(60) == 0, up.log_text()[-3000:]  # type: ignore[union-attr]
        assert not temporal_orphans(up.data / "temporal" / "temporal.db")
        assert EmbeddedPostgres.running_uri(up.data / "postgres") is None
        assert not (up.data / "running.json").exists()
    finally:
        up.cleanup()


def test_up_refuses_a_temporal_port_held_by_another_process(tmp_path: Path) -> None:
    with _listener() as sock:
        up = Up(tmp_path / "data", free_port(), sock.getsockname()[1])
        try:
            done = subprocess.run(
                [*CLI, "up"], env=up.env, cwd=ROOT, capture_output=True, text=True,
                timeout=60, check=False,
            )
            assert done.returncode != 0
            assert "not ours" in done.stderr and "CLAIMFLOW_TEMPORAL_PORT" in done.stderr, (
                done.stdout + done.stderr
            )
            assert "temporal_started" not in done.stdout + done.stderr
        finally:
            up.cleanup()


def test_reconcile_says_nothing_is_running(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "reconcile"], env=_bare_env(CLAIMFLOW_DATA_DIR=str(tmp_path / "nothing")),
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode != 0
    assert "nothing is running" in done.stderr and "make up" in done.stderr, done.stderr
