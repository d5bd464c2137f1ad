"""Issue 11, item 9: no API or worker process runs without payload keys unless plaintext is
asked for explicitly; `claimflow up` keeps its own key; a bad key is refused at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from claimflow.codec import parse_keys
from claimflow.settings import Settings
from claimflow.temporal import require_payload_keys
from tests.support.claims import TEST_PAYLOAD_KEY, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from claimflow.cli import main; main()"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("CLAIMFLOW_", "TEMPORAL_")) and k != "DATABASE_URL"}  # fmt: skip
    base.update(
        # Nothing listens there: a process that got past the check would hang or fail later.
        TEMPORAL_ADDRESS="127.0.0.1:9",
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/nothing",
        CLAIMFLOW_AUTH_SECRET=TEST_SECRET,
        PYTHONPATH=str(ROOT),
        **env,
    )
    return subprocess.run(
        [*CLI, *args], env=base, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_refuse_to_start_without_payload_keys(command: str) -> None:
    done = _cli(command)
    assert done.returncode != 0
    assert "CLAIMFLOW_PAYLOAD_KEYS is not set" in done.stderr, done.stderr[-2000:]
    assert "claimflow new-payload-key" in done.stderr  # how to make one
    assert "CLAIMFLOW_PAYLOAD_PLAINTEXT=1" in done.stderr  # and the explicit way out


def test_a_new_payload_key_is_printed_ready_to_use() -> None:
    done = _cli("new-payload-key")
    assert done.returncode == 0, done.stderr
    [(key_id, key)] = parse_keys([done.stdout.strip()])
    assert key_id and len(key) == 32


def test_keys_are_checked_and_plaintext_is_explicit_and_loud() -> None:
    require_payload_keys(Settings(payload_keys=SecretStr(TEST_PAYLOAD_KEY)), "api")
    with pytest.raises(SystemExit, match="CLAIMFLOW_PAYLOAD_KEYS is not set"):
        require_payload_keys(Settings(payload_keys=None), "worker")
    with pytest.raises(ValueError, match="32 bytes"):
        require_payload_keys(Settings(payload_keys=SecretStr("k1:AAAA")), "api")
    with capture_logs() as logs:
        require_payload_keys(Settings(payload_keys=None, payload_plaintext=True), "worker")
    [warning] = [e for e in logs if e["event"] == "payload_encryption_off"]
    assert warning["log_level"] == "warning" and warning["process"] == "worker"


def test_plaintext_opt_out_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMFLOW_PAYLOAD_PLAINTEXT", "1")
    assert Settings().payload_plaintext is True
