"""All configuration in one place, read from the environment.

Where TEMPORAL_ADDRESS or DATABASE_URL is unset, `claimflow up` starts the embedded
server for it; `claimflow api` and `claimflow worker` require both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import structlog
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.calendar import BusinessCalendar
from domain.policy import (
    DEFAULT_STALL_AFTER,
    DEFAULT_TASK_POLICIES,
    HistoryBudget,
    ServicePolicy,
    StatutoryClocks,
    TaskPolicy,
)
from domain.vocabulary import SHANGHAI, ClaimStage, TaskKind


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMFLOW_", extra="ignore")

    # Temporal
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "CLAIMFLOW_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "CLAIMFLOW_TEMPORAL_NAMESPACE"),
    )
    temporal_task_queue: str = "claims"
    temporal_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_API_KEY", "CLAIMFLOW_TEMPORAL_API_KEY")
    )
    temporal_tls: bool = Field(
        default=False, validation_alias=AliasChoices("TEMPORAL_TLS", "CLAIMFLOW_TEMPORAL_TLS")
    )

    # PostgreSQL read model
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CLAIMFLOW_DATABASE_URL")
    )
    database_pool_min: int = 1
    database_pool_max: int = 10
    idempotency_pool_max: int = 5
    """Connections for requests with an Idempotency-Key (each holds one while it runs)."""

    # Worker tuning (measured in BENCHMARKS.md). None keeps the Temporal SDK's default.
    worker_max_concurrent_workflow_tasks: int | None = None
    worker_max_concurrent_activities: int | None = None
    worker_max_cached_workflows: int = 250
    """The sticky cache: claims kept in memory between their tasks; others replay their
    history when next needed. About 0.4 MB each (BENCHMARKS.md): the SDK's default of 1000
    held ~360 MB more once 10,000 claims waited, with no gain in throughput."""
    worker_workflow_task_pollers: int | None = None
    worker_activity_task_pollers: int | None = None
    worker_uvloop: bool = True
    """Run `claimflow worker` on uvloop where it is installed (it is, with uvicorn[standard])."""
    worker_graceful_shutdown: timedelta = timedelta(seconds=20)
    """On SIGTERM (or Ctrl-C under `claimflow up`) the worker stops polling and lets the
    activities it is running finish for up to this long before it cancels them."""
    health_check_every: timedelta = timedelta(seconds=60)
    """How often a worker process asks Temporal for claim workflows that failed, were
    terminated or timed out, and marks their claims in the read model (claimflow/health.py);
    zero turns it off."""

    worker_metrics_address: str | None = None
    """Where the worker serves the Temporal SDK's metrics and the business gauges for
    Prometheus (`host:port`, path /metrics); unset, none. `claimflow up` sets 127.0.0.1:9464."""
    metrics_refresh: timedelta = timedelta(seconds=30)
    """How often the API and the worker read the business gauges from the read model (a scrape
    only reads the last figures); zero turns the gauges off."""

    # Embedded servers (used by `claimflow up` where no address/URL is given)
    data_dir: Path = Path(".data")
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_ui: bool = True
    up_restart_backoff_max: timedelta = timedelta(seconds=30)
    """`claimflow up` restarts a part that stopped (the worker, the Temporal server) after
    1 s, then twice as long each time it stops again soon after, up to this."""

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    claim_open_timeout: timedelta = timedelta(seconds=20)
    """How long `POST /claims` waits for the new claim's workflow to answer (a worker must
    pick it up); past it the answer is 503 with Retry-After, and the same Idempotency-Key
    later joins the claim if it was started."""
    worker_poller_seen_within: timedelta = timedelta(seconds=120)
    """`/readyz` counts a worker as polling the task queue when Temporal saw it this
    recently (an idle worker's long poll lasts about a minute)."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    """The largest request body the API reads; larger ones are refused with 413."""

    # Logging
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    # Claims policy: served cities, SLAs. Snapshotted into each claim when it opens.
    offline_cities: list[str] = ["Beijing"]
    task_policies: dict[TaskKind, TaskPolicy] = {}
    """Overrides of DEFAULT_TASK_POLICIES per task kind (JSON), e.g.
    {"triage": {"due": "PT4H", "escalations": [{"after": "PT2H", "recipient": "team-lead"}]}}."""
    stall_after: dict[ClaimStage, timedelta] = {}
    """Overrides of DEFAULT_STALL_AFTER per stage (JSON)."""
    statutory: StatutoryClocks = StatutoryClocks()
    business_calendar: BusinessCalendar = BusinessCalendar()
    temporal_search_attributes: bool = True
    """Register (where allowed) and upsert the claims' typed search attributes."""
    history_budget: HistoryBudget = HistoryBudget()
    """When a claim's run continues as new (JSON: {"events": 2000, "bytes": 4194304})."""

    # Notifications (nudges, escalations, alerts): "log", or "webhook" to POST each one.
    notification_channel: Literal["log", "webhook"] = "log"
    notification_webhook_url: str | None = None

    # Sign-in: bearer tokens (JWT, HS256) signed with this secret; every API process of a
    # deployment shares it. `claimflow up` keeps one in the data folder when it is unset.
    auth_secret: SecretStr | None = None
    auth_token_ttl: timedelta = timedelta(hours=8)
    progress_link_ttl: timedelta = timedelta(days=14)
    """How long a policyholder's progress link works (signed with the auth secret)."""

    # Encryption of Temporal payloads: "id:base64key[,id:base64key...]" (32-byte AES keys);
    # the first encrypts, all decrypt (rotation). Every API and worker process shares them.
    # `claimflow up` keeps one in the data folder when it is unset.
    payload_keys: SecretStr | None = None
    payload_plaintext: bool = False
    """CLAIMFLOW_PAYLOAD_PLAINTEXT=1: run `claimflow api` / `worker` without payload keys,
    so Temporal stores claims' personal data in plain text (logged as a warning at start).
    Without it, and without keys, they refuse to start."""

    # The insurer's webhook (insurers integrated by API) signs its body with this secret.
    insurer_webhook_secret: str | None = None

    def warn_if_the_calendar_runs_out(self) -> None:
        """Deadlines count business time: said loudly at start, by the API and the worker,
        before the calendar's holiday data runs out (`BusinessCalendar.warning`)."""
        if warning := self.business_calendar.warning(datetime.now(SHANGHAI).date()):
            structlog.get_logger(__name__).warning("business_calendar_runs_out", detail=warning)

    def service_policy(self) -> ServicePolicy:
        return ServicePolicy(
            offline_cities=self.offline_cities,
            tasks={**DEFAULT_TASK_POLICIES, **self.task_policies},
            stall_after={**DEFAULT_STALL_AFTER, **self.stall_after},
            statutory=self.statutory,
            calendar=self.business_calendar,
            search_attributes=self.temporal_search_attributes,
            history=self.history_budget,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
