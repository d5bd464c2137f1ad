"""One way to connect to Temporal, used by the API, the worker and the tests."""

from __future__ import annotations

import dataclasses

import structlog
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError
from temporalio.contrib.pydantic import pydantic_data_converter

from claimflow.codec import EncryptionCodec, parse_keys
from claimflow.settings import Settings

log = structlog.get_logger(__name__)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic models as JSON, encrypted where payload keys are configured."""
    if settings.payload_keys is None:
        return pydantic_data_converter
    keys = parse_keys(settings.payload_keys.get_secret_value().split(","))
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(keys))


async def connect(settings: Settings, address: str | None = None) -> Client:
    target = address or settings.temporal_address
    if not target:
        raise RuntimeError("TEMPORAL_ADDRESS is not set")
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls or bool(settings.temporal_api_key),
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the claims' search attributes where this client may (self-hosted clusters);
    on Temporal Cloud register them in the Cloud console and this only logs."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

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
