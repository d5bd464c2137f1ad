"""Encryption of Temporal payloads: claims carry names, ID numbers, diagnoses and money, and
Temporal's history and Web UI must show none of it in plaintext.

AES-256-GCM per payload, the key id in the payload's metadata. Keys come from the environment
as "id:base64key" (32 bytes); the first one encrypts, all of them decrypt, so a key is rotated
by putting a new one first and dropping the old one once no running claim needs it.
Payloads written before encryption was on (no metadata) pass through unchanged.

A payload over COMPRESS_OVER bytes is compressed (zlib) before it is sealed, where that makes
it smaller: a claim's JSON (names, codes, repeated keys) shrinks to a third or less, and
compressing after encryption would gain nothing. Payloads sealed before this carry no
"compression" metadata and open as they were.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
ALGORITHM = b"AES-256-GCM"
COMPRESSION = b"zlib"
COMPRESS_OVER = 256


class PayloadKeyError(ValueError):
    pass


def parse_keys(specs: Sequence[str]) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for spec in specs:
        key_id, sep, material = spec.partition(":")
        if not sep or not key_id:
            raise PayloadKeyError("a payload key is written id:base64key")
        try:
            key = base64.b64decode(material, validate=True)
        except ValueError as exc:
            raise PayloadKeyError(f"payload key {key_id}: not base64") from exc
        if len(key) != 32:
            raise PayloadKeyError(f"payload key {key_id}: 32 bytes needed, got {len(key)}")
        keys.append((key_id, key))
    if len({k for k, _ in keys}) != len(keys):
        raise PayloadKeyError("payload key ids must be unique")
    return keys


def new_key_spec(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise PayloadKeyError("at least one payload key")
        self._current_id, current = keys[0]
        self._current = AESGCM(current)
        self._all = {key_id: AESGCM(key) for key_id, key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        plain = payload.SerializeToString()
        metadata = {
            "encoding": ENCODING,
            "encryption-key-id": self._current_id.encode(),
            "encryption-cipher": ALGORITHM,
        }
        if len(plain) > COMPRESS_OVER:
            packed = zlib.compress(plain, 6)
            if len(packed) < len(plain):
                plain = packed
                metadata["compression"] = COMPRESSION
        nonce = os.urandom(12)
        sealed = self._current.encrypt(nonce, plain, None)
        return Payload(metadata=metadata, data=nonce + sealed)

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was switched on
        key_id = payload.metadata.get("encryption-key-id", b"").decode()
        cipher = self._all.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"payload encrypted with unknown key {key_id!r}")
        plain = cipher.decrypt(payload.data[:12], payload.data[12:], None)
        if payload.metadata.get("compression") == COMPRESSION:
            plain = zlib.decompress(plain)
        elif payload.metadata.get("compression"):
            raise PayloadKeyError("payload compressed with an unknown method")
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded
