"""First start of a single-machine system: a signing secret and an admin to sign in with.

Both are kept in the data folder (mode 0600), so a restart keeps every token and password
valid. A deployment sets CLAIMFLOW_AUTH_SECRET and manages users with `claimflow users`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import asyncpg
import structlog

from claimflow.codec import new_key_spec
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
