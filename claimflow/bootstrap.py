"""First start of a single-machine system: a signing secret and an admin to sign in with.

Both are kept in the data folder (mode 0600), so a restart keeps every token and password
valid. A deployment sets CLAIMFLOW_AUTH_SECRET and manages users with `claimflow users`.

While `claimflow up` runs, the data folder also says where (RUNNING_FILE: Temporal's address,
the DSN, the API's URL, the payload key file), so that `claimflow reconcile` and the other
commands find it without any environment.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from pydantic import SecretStr

from claimflow.codec import new_key_spec
from claimflow.settings import Settings
from domain.vocabulary import Role
from store import users

log = structlog.get_logger(__name__)

ADMIN = "admin"


def _secret_file(path: Path, nbytes: int) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    return value


def auth_secret(data_dir: Path) -> str:
    return _secret_file(data_dir / "auth-secret", 48)


def payload_keys(data_dir: Path) -> str:
    """One key on first start, kept; to rotate, set CLAIMFLOW_PAYLOAD_KEYS instead."""
    path = data_dir / "payload-keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new_key_spec("k1") + "\n")
    return path.read_text(encoding="utf-8").strip()


async def ensure_admin(pool: asyncpg.Pool, data_dir: Path) -> str | None:
    """Create the first admin when there are no users; returns the password file's path."""
    if await users.exists(pool):
        return None
    path = data_dir / "admin-password"
    password = os.environ.get("CLAIMFLOW_ADMIN_PASSWORD") or _secret_file(path, 18)
    await users.upsert(pool, ADMIN, name="Administrator", role=Role.ADMIN, city=None,
                       password=password)
    log.info("admin_created", user_id=ADMIN)
    return str(path)


def admin_password(data_dir: Path) -> str | None:
    env = os.environ.get("CLAIMFLOW_ADMIN_PASSWORD")
    if env:
        return env
    path = data_dir / "admin-password"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


RUNNING_FILE = "running.json"
LOCK_FILE = "up.lock"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600), replacing it atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def hold_lock(data_dir: Path) -> int | None:
    """Take the data folder's lock (held while `claimflow up` runs, released by the kernel
    however the process ends); the file descriptor, or None if another process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def up_is_running(data_dir: Path) -> bool:
    """Whether a `claimflow up` holds this data folder now."""
    if not (data_dir / LOCK_FILE).exists():
        return False
    fd = hold_lock(data_dir)
    if fd is None:
        return True
    os.close(fd)
    return False


def read_running(data_dir: Path) -> dict[str, Any] | None:
    """What the last `claimflow up` on this folder wrote about itself, alive or not."""
    try:
        return dict(json.loads((data_dir / RUNNING_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def with_running_deployment(settings: Settings, *, need_temporal: bool = True) -> Settings:
    """The settings of a command that talks to the deployment: what the environment says,
    and, where it says nothing, the `claimflow up` running on the data folder (its Temporal
    address, DSN and payload keys). A clear message when neither says where."""
    data = Path(settings.data_dir).resolve()
    info = read_running(data) if up_is_running(data) else None
    updates: dict[str, Any] = {}
    if info is not None:
        if not settings.temporal_address and info.get("temporal_address"):
            updates["temporal_address"] = info["temporal_address"]
        if not settings.database_url and info.get("database_url"):
            updates["database_url"] = info["database_url"]
        keys_file = info.get("payload_keys_file")
        if settings.payload_keys is None and keys_file and Path(keys_file).exists():
            updates["payload_keys"] = SecretStr(Path(keys_file).read_text(encoding="utf-8").strip())
    settings = settings.model_copy(update=updates)
    missing = [
        name
        for value, name in (
            (settings.temporal_address if need_temporal else True, "TEMPORAL_ADDRESS"),
            (settings.database_url, "DATABASE_URL"),
        )
        if not value
    ]
    if missing:
        raise SystemExit(
            f"nothing is running on {data}: start it with `make up` (or `claimflow up`), "
            f"or set {' and '.join(missing)} (and CLAIMFLOW_PAYLOAD_KEYS) for another deployment"
        )
    return settings
