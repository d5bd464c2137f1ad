"""The notifications outbox with the webhook channel, against a real HTTP receiver:
delivered once however often the activity runs, and a failed delivery is kept and retried."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities, WebhookChannel
from claimflow.embedded import free_port
from domain.notifications import Notification, NotificationKind
from domain.vocabulary import Role


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.fail = False


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.fail:
                self.send_response(503)
            else:
                state.received.append((self.headers["Idempotency-Key"], json.loads(body)))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{port}/notify"
    server.shutdown()


async def _claim_row(pool: asyncpg.Pool, claim_id: str) -> None:
    """The outbox references a claim: insert the minimum row."""
    await pool.execute(
        "INSERT INTO claims (claim_id, stage, status, policyholder_name, policy_number, city,"
        " source, claim_type, consultant, created_at, updated_at, version, snapshot)"
        " VALUES ($1,'triage','open','Mr. Wang','P-1','Beijing','return_visit',"
        " 'medical_reimbursement','xiao.gao',now(),now(),1,'{}')",
        claim_id,
    )


async def test_webhook_delivery_is_exactly_once_and_survives_failures(pool, clean_db, receiver):
    state, url = receiver
    await _claim_row(pool, "CLM-NOTIFY0000000001")
    notify = NotifyActivities(pool, WebhookChannel(url)).notify
    n = Notification(
        notification_id="CLM-NOTIFY0000000001/CLM-NOTIFY0000000001-T1/reminder/0",
        claim_id="CLM-NOTIFY0000000001",
        task_id="CLM-NOTIFY0000000001-T1",
        kind=NotificationKind.REMINDER,
        recipient="xiao.gao",
        role=Role.CONSULTANT,
        message="Triage is due.",
        created_at=datetime.now(timezone.utc),
    )
    env = ActivityEnvironment()

    state.fail = True
    with pytest.raises(Exception):
        await env.run(notify, n)
    row = await pool.fetchrow(
        "SELECT delivered_at, attempts, last_error FROM notifications WHERE notification_id=$1",
        n.notification_id,
    )
    assert row["delivered_at"] is None and row["attempts"] == 1 and "503" in row["last_error"]

    state.fail = False
    await env.run(notify, n)  # Temporal's retry
    await env.run(notify, n)  # a duplicate run after success
    assert [key for key, _ in state.received] == [n.notification_id]
    assert state.received[0][1]["message"] == "Triage is due."
    row = await pool.fetchrow(
        "SELECT delivered_at, attempts, last_error FROM notifications WHERE notification_id=$1",
        n.notification_id,
    )
    assert row["delivered_at"] is not None and row["attempts"] == 2 and row["last_error"] is None
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 1
