"""AES-GCM encryption of every payload Punchcard writes to Temporal history.

Clients' names, phones and emails must never sit readable in Temporal's database or UI, so
every client, worker and replayer encodes payloads through `EncryptionCodec`. Keys come
from PUNCHCARD_CODEC_KEYS as "kid:base64key,kid2:base64key": the first key encrypts, every
listed key decrypts, and each encrypted payload names its key id in its metadata — so a
key rotates by putting the new one first and keeping the old one listed until no open
history needs it. Payloads that were never encrypted (histories older than the codec)
pass through decoding untouched.

    CodecError (ValueError)
    ├── KeyConfigError        the key list cannot be parsed (names the entry, never the key)
    ├── UnknownKeyError       a payload names a key id that is not configured
    └── TamperedPayloadError  authentication failed: changed, truncated or wrong key
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from workers.settings import Settings
from workflows.converter import make_data_converter

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_FILE_NAME = "codec-keys"  # under data_dir: the embedded stack's generated key
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256

_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CodecError(ValueError):
    """A payload-encryption problem; str() names the key id or entry, never key material."""


class KeyConfigError(CodecError):
    """PUNCHCARD_CODEC_KEYS (or the key file) cannot be parsed."""


class UnknownKeyError(CodecError):
    """A payload was encrypted under a key id this process does not have."""


class TamperedPayloadError(CodecError):
    """AES-GCM authentication failed: the ciphertext was changed or is not ours."""


@dataclass(frozen=True)
class CodecKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never print key material
        return f"CodecKey(key_id={self.key_id!r})"


def parse_keys(text: str) -> list[CodecKey]:
    """Parse "kid:base64key,kid2:base64key"; the first key is the one that encrypts.

    Raises:
        KeyConfigError: naming the entry (by position and key id) that is wrong.
    """
    entries = [entry.strip() for entry in text.replace("\n", ",").split(",")]
    keys: list[CodecKey] = []
    for position, entry in enumerate((e for e in entries if e), start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        where = f"codec key #{position}"
        if not sep:
            raise KeyConfigError(f"{where} has no ':' — write it as key-id:base64-key")
        if not _KEY_ID.fullmatch(key_id):
            raise KeyConfigError(
                f"{where}: key id {key_id!r} must be 1–64 letters, digits, '.', '_' or '-'"
            )
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"{where} ({key_id!r}): the key is not valid base64") from None
        if len(secret) != KEY_BYTES:
            raise KeyConfigError(
                f"{where} ({key_id!r}): the key is {len(secret)} bytes, AES-256 needs "
                f"{KEY_BYTES} (make one with `punchcard codec new-key`)"
            )
        if any(k.key_id == key_id for k in keys):
            raise KeyConfigError(f"{where}: key id {key_id!r} is listed twice")
        keys.append(CodecKey(key_id, secret))
    if not keys:
        raise KeyConfigError("no codec key given (expected key-id:base64-key[,…])")
    return keys


def generate_key(key_id: str | None = None) -> str:
    """A fresh random AES-256 key as "kid:base64" (kid defaults to a dated random id)."""
    key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    if not _KEY_ID.fullmatch(key_id):
        raise KeyConfigError(f"key id {key_id!r} must be 1–64 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    """Encrypts each payload (metadata and data) under the first key; decrypts under any."""

    def __init__(self, keys: Sequence[CodecKey]) -> None:
        if not keys:
            raise KeyConfigError("an encryption codec needs at least one key")
        self._encrypting = keys[0]
        self._ciphers = {key.key_id: AESGCM(key.secret) for key in keys}

    @classmethod
    def from_text(cls, text: str) -> EncryptionCodec:
        return cls(parse_keys(text))

    @property
    def key_id(self) -> str:
        """The key new payloads are encrypted under."""
        return self._encrypting.key_id

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._encrypting.key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """Decrypt one payload; one that was never encrypted is returned as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(self._ciphers)
            raise UnknownKeyError(
                f"payload is encrypted with key id {key_id!r}, which is not configured "
                f"(PUNCHCARD_CODEC_KEYS has: {known}) — add that key back to read it"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise TamperedPayloadError(
                f"payload under key id {key_id!r} failed authentication: it was altered, "
                "truncated, or encrypted with a different key of that id"
            ) from None
        return Payload.FromString(plain)


class NoKeyCodec(PayloadCodec):
    """No key configured: nothing is encrypted, and reading an encrypted payload fails
    with a message saying so (instead of "unknown payload encoding")."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
                raise UnknownKeyError(
                    f"payload is encrypted with key id {key_id!r} but no codec key is "
                    "configured: set PUNCHCARD_CODEC_KEYS (or PUNCHCARD_DATA_DIR to the "
                    "`punchcard up` data directory that holds codec-keys)"
                )
        return list(payloads)


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE_NAME


def ensure_key_file(data_dir: Path) -> str:
    """The embedded stack's keys: read DATA/codec-keys, creating it (mode 0600) if absent."""
    path = key_file(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(generate_key() + "\n")
    return path.read_text(encoding="utf-8").strip()


def configured_keys(settings: Settings) -> str | None:
    """PUNCHCARD_CODEC_KEYS, else the key file `punchcard up` wrote under the data dir.

    The fallback lets CLI commands in another terminal read what the embedded stack wrote.
    """
    if settings.codec_keys is not None:
        return settings.codec_keys.get_secret_value()
    path = key_file(settings.data_dir)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def codec_from_settings(settings: Settings) -> EncryptionCodec | None:
    """The codec for these settings, or None when no key is configured anywhere.

    Raises:
        KeyConfigError: the configured keys cannot be parsed.
    """
    text = configured_keys(settings)
    return None if text is None else EncryptionCodec.from_text(text)


def data_converter_for(settings: Settings) -> DataConverter:
    """The one data converter: pydantic JSON, encrypted when keys are configured."""
    codec = codec_from_settings(settings)
    if codec is None:
        return make_data_converter(NoKeyCodec(), encode_failures=False)
    return make_data_converter(codec)
