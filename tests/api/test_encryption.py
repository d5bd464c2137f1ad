"""Personal and medical data never reaches Temporal in plaintext; an admin can decode it
through the codec endpoint; keys rotate."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from claimflow.codec import EncryptionCodec, PayloadKeyError, parse_keys
from domain.vocabulary import Role
from tests.support.claims import bearer, complete, open_claim

SECRETS = (b"Mr. Wang", b"P-2019-000123", b"cerebral infarction")


async def test_history_holds_no_plaintext(api: httpx.AsyncClient, temporal_client: Client,
                                          settings):
    claim = await open_claim(api)
    r = await complete(api, claim["tasks"][0]["task_id"],
                       {"kind": "triage", "liability": "covered", "path": "online"}, by="admin")
    assert r.status_code == 200
    assert r.json()["opening"]["policyholder"]["name"] == "Mr. Wang"  # clients see it

    history = await temporal_client.get_workflow_handle(claim["claim_id"]).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert len(history.events) > 10
    for secret in SECRETS:
        assert secret not in raw, secret

    # An admin decodes a payload through the codec endpoint, as the UI or CLI would.
    started = history.events[0].workflow_execution_started_event_attributes
    encrypted = started.input.payloads[0]
    assert encrypted.metadata["encoding"] == b"binary/encrypted"
    body = {"payloads": [json_format.MessageToDict(encrypted)]}
    decoded = await api.post("/codec/decode", json=body)
    assert decoded.status_code == 200, decoded.text
    data = base64.b64decode(decoded.json()["payloads"][0]["data"])
    assert b"Mr. Wang" in data
    as_manager = await api.post("/codec/decode", json=body,
                                headers=bearer(settings, "manager.zhao", Role.MANAGER))
    assert as_manager.status_code == 403


async def test_keys_rotate():
    k1 = "k1:" + base64.b64encode(bytes(range(32))).decode()
    k2 = "k2:" + base64.b64encode(bytes(range(32, 64))).decode()
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Mr. Wang"}')

    old = EncryptionCodec(parse_keys([k1]))
    sealed_k1 = (await old.encode([plain]))[0]
    rotated = EncryptionCodec(parse_keys([k2, k1]))
    assert (await rotated.decode([sealed_k1]))[0] == plain  # old payloads still read
    sealed_k2 = (await rotated.encode([plain]))[0]
    assert sealed_k2.metadata["encryption-key-id"] == b"k2"
    assert b"Mr. Wang" not in sealed_k2.data
    with pytest.raises(PayloadKeyError):
        await old.decode([sealed_k2])  # k1 alone cannot read what k2 wrote
    # Payloads written before encryption was on pass through.
    assert (await rotated.decode([plain]))[0] == plain
    with pytest.raises(PayloadKeyError):
        parse_keys(["k1:" + base64.b64encode(b"short").decode()])


async def test_large_payloads_are_compressed_before_they_are_sealed():
    """A claim-sized payload shrinks (it is compressed, then encrypted) and opens as it was;
    a small one is not compressed; a payload sealed before compression still opens."""
    codec = EncryptionCodec(parse_keys(["k1:" + base64.b64encode(bytes(range(32))).decode()]))
    claim = Payload(
        metadata={"encoding": b"json/plain"},
        data=json.dumps({"notes": [{"author": "xiao.gao", "text": "王先生的病历"}] * 50}).encode(),
    )
    (sealed,) = await codec.encode([claim])
    assert sealed.metadata["compression"] == b"zlib"
    assert len(sealed.data) < len(claim.data) / 5
    assert (await codec.decode([sealed]))[0] == claim
    small = Payload(metadata={"encoding": b"json/plain"}, data=b'"ok"')
    (sealed_small,) = await codec.encode([small])
    assert "compression" not in sealed_small.metadata
    assert (await codec.decode([sealed_small]))[0] == small
    # As sealed before compression existed: no "compression" metadata.
    nonce = bytes(12)
    cipher = AESGCM(bytes(range(32)))
    before = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1"},
        data=nonce + cipher.encrypt(nonce, claim.SerializeToString(), None),
    )
    assert (await codec.decode([before]))[0] == claim
