"""One way to connect to Temporal, used by the API, the worker and the tests."""

from __future__ import annotations

import dataclasses

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError

from claimflow.codec import EncryptionCodec, parse_keys
from claimflow.settings import Settings

log = structlog.get_logger(__name__)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic models as JSON, encrypted where payload keys are configured."""
    if settings.payload_keys is None:
        return pydantic_data_converter
    keys = parse_keys(settings.payload_keys.get_secret_value().split(","))
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(keys))


async def connect(
    settings: Settings, address: str | None = None, *, runtime: Runtime | None = None
) -> Client:
    """`runtime`: the SDK runtime of a worker that exports metrics (`metrics_runtime`)."""
    target = address or settings.temporal_address
    if not target:
        raise RuntimeError("TEMPORAL_ADDRESS is not set")
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls or bool(settings.temporal_api_key),
        runtime=runtime,
    )


def metrics_runtime(address: str) -> Runtime:
    """An SDK runtime serving its metrics (and the gauges made on its meter) for Prometheus
    at http://{address}/metrics; durations in seconds, counters with `_total`, as Prometheus
    names them."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
        )
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the claims' search attributes where this client may (self-hosted clusters);
    on Temporal Cloud register them in the Cloud console and this only logs."""
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    from workflows import search_attributes

    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            key.name: int(key.indexed_value_type)
            for key in search_attributes.ALL
            if key.name not in existing.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
            log.info("search_attributes_registered", names=sorted(missing))
    except RPCError as exc:
        log.warning("search_attributes_not_registered", error=str(exc))


PLAINTEXT_HOW = (
    "CLAIMFLOW_PAYLOAD_KEYS is not set: Temporal would store every claim's personal data "
    "(names, ID numbers, diagnoses) in plain text, and processes with and without keys cannot "
    "read each other's claims. Make a key with `claimflow new-payload-key` and give the same "
    "CLAIMFLOW_PAYLOAD_KEYS=k1:... to every API and worker process (`claimflow up` keeps one in "
    "its data folder). To run without encryption anyway, set CLAIMFLOW_PAYLOAD_PLAINTEXT=1."
)


def require_payload_keys(settings: Settings, process: str) -> None:
    """Refuse to run an API or worker process without payload keys, unless plaintext is
    asked for explicitly (then say so loudly)."""
    if settings.payload_keys is not None:
        parse_keys(settings.payload_keys.get_secret_value().split(","))  # a bad key fails here
        return
    if not settings.payload_plaintext:
        raise SystemExit(PLAINTEXT_HOW)
    log.warning(
        "payload_encryption_off",
        process=process,
        message="CLAIMFLOW_PAYLOAD_PLAINTEXT is set: claims' personal data is stored in "
        "Temporal in plain text",
    )


async def task_queue_pollers(
    client: Client, namespace: str, task_queue: str, seen_within: float
) -> list[str]:
    """The identities of the workers Temporal saw polling the queue's workflow tasks within
    `seen_within` seconds (DescribeTaskQueue keeps pollers listed for minutes after they go)."""
    from datetime import UTC, datetime

    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    now = datetime.now(UTC)
    fresh = []
    for poller in response.pollers:
        seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
        if (now - seen).total_seconds() <= seen_within:
            fresh.append(poller.identity)
    return fresh
