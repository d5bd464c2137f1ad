"""The remote codec endpoint of Temporal's Web UI and CLI: lets an authorized operator read
(and write) the encrypted payloads of a claim's history.

    temporal workflow show -w CLM-... --codec-endpoint http://host:8000/codec \\
        --codec-auth "Bearer <an admin's token>"
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.auth import Admin
from api.schemas import Problem

router = APIRouter(
    prefix="/codec",
    tags=["operations"],
    responses={403: {"model": Problem, "description": "Admins only"}},
)


async def _apply(request: Request, body: dict[str, Any], decode: bool) -> dict[str, Any]:
    codec = request.app.state.claims.client.data_converter.payload_codec
    if codec is None:
        raise HTTPException(status_code=404, detail="payloads are not encrypted here")
    try:
        payloads = json_format.ParseDict(body, Payloads())
    except json_format.ParseError as exc:
        raise HTTPException(status_code=422, detail=f"not Temporal payloads: {exc}") from exc
    try:
        out = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
    except Exception as exc:  # noqa: BLE001 - a bad ciphertext or unknown key is the caller's
        raise HTTPException(status_code=422, detail=f"cannot decode: {exc}") from exc
    return json_format.MessageToDict(Payloads(payloads=out))


@router.post("/decode")
async def decode(
    request: Request, _: Admin, body: dict[str, Any] = Body(examples=[{"payloads": []}])
) -> dict[str, Any]:
    return await _apply(request, body, decode=True)


@router.post("/encode")
async def encode(
    request: Request, _: Admin, body: dict[str, Any] = Body(examples=[{"payloads": []}])
) -> dict[str, Any]:
    return await _apply(request, body, decode=False)
