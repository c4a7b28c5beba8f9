"""The encryption codec: round trip, rotation on a live package, and every way decoding fails."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from typer.testing import CliRunner

from activities.repository import ClientRepository, PackageTypeRepository
from starter.cli import build_app
from starter.packages import PackageService, SaleRequest
from tests.conftest import TEST_CODEC_KEYS
from tests.platform.history import payloads_of
from tests.workflows.conftest import ANA, LASER
from workers.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    KeyConfigError,
    TamperedPayloadError,
    UnknownKeyError,
    codec_from_settings,
    data_converter_for,
    ensure_key_file,
    generate_key,
    parse_keys,
)
from workers.settings import Settings
from workers.worker import build_worker, connect_temporal
from workflows.converter import make_data_converter
from workflows.ids import package_workflow_id
from workflows.models import RedeemRequest

OLD = generate_key("old")
NEW = generate_key("new")


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_data_and_metadata_and_names_the_key() -> None:
    codec = EncryptionCodec.from_text(TEST_CODEC_KEYS)
    original = plain('{"phone": "+15555550101"}')
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"test-1"
    assert b"+1555" not in sealed.data and b"json/plain" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == original
    [again] = await codec.encode([original])
    assert again.data != sealed.data, "a fresh nonce per payload"


async def test_rotation_reads_old_payloads_and_writes_new_ones() -> None:
    [under_old] = await EncryptionCodec.from_text(OLD).encode([plain("before")])
    rotated = EncryptionCodec.from_text(f"{NEW},{OLD}")
    assert rotated.key_id == "new"
    [opened] = await rotated.decode([under_old])
    assert opened.data == b"before"
    [under_new] = await rotated.encode([plain("after")])
    assert under_new.metadata[KEY_ID_METADATA] == b"new"


async def test_a_payload_under_a_dropped_key_fails_naming_the_key_id() -> None:
    [under_old] = await EncryptionCodec.from_text(OLD).encode([plain("x")])
    with pytest.raises(UnknownKeyError, match=r"key id 'old'.*PUNCHCARD_CODEC_KEYS has: new"):
        await EncryptionCodec.from_text(NEW).decode([under_old])


async def test_unencrypted_payloads_pass_through_decoding() -> None:
    original = plain('"from before the codec"')
    assert await EncryptionCodec.from_text(NEW).decode([original]) == [original]


async def test_tampered_or_reused_key_id_ciphertext_fails_authentication() -> None:
    codec = EncryptionCodec.from_text(NEW)
    [sealed] = await codec.encode([plain("balance 5")])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(TamperedPayloadError, match="key id 'new' failed authentication"):
        await codec.decode([tampered])
    # Another key that happens to carry the same id cannot read it either.
    impostor = EncryptionCodec.from_text(generate_key("new"))
    with pytest.raises(TamperedPayloadError):
        await impostor.decode([sealed])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no codec key given"),
        ("justbase64", "#1 has no ':'"),
        ("bad id!:AAAA", "key id 'bad id!'"),
        ("k1:not base64!!", r"#1 \('k1'\): the key is not valid base64"),
        ("k1:" + "A" * 24, r"the key is 18 bytes, AES-256 needs 32"),
        (f"{NEW},{NEW}", "#2: key id 'new' is listed twice"),
    ],
)
def test_bad_key_lists_are_refused_naming_the_entry(text: str, problem: str) -> None:
    with pytest.raises(KeyConfigError, match=problem) as caught:
        parse_keys(text)
    secret = NEW.partition(":")[2]
    assert secret not in str(caught.value), "never echo key material"


def test_new_key_command_prints_a_usable_key() -> None:
    result = CliRunner().invoke(build_app(), ["codec", "new-key", "--id", "2027-01"])
    assert result.exit_code == 0, result.output
    [key] = parse_keys(result.stdout.strip())
    assert key.key_id == "2027-01" and len(key.secret) == 32
    refused = CliRunner().invoke(build_app(), ["codec", "new-key", "--id", "no spaces"])
    assert refused.exit_code == 1 and "key id 'no spaces'" in refused.output


def test_the_embedded_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = ensure_key_file(tmp_path)
    assert ensure_key_file(tmp_path) == first
    mode = stat.S_IMODE(os.stat(tmp_path / "codec-keys").st_mode)
    assert mode == 0o600
    # A CLI in another terminal, with no PUNCHCARD_CODEC_KEYS, finds the same key.
    codec = codec_from_settings(Settings(data_dir=tmp_path))
    assert codec is not None and codec.key_ids == [first.partition(":")[0]]


async def test_a_live_package_survives_a_key_rotation(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """Sold under the old key, redeemed after the new key went first, unreadable without old."""
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(LASER)
    package = "pkg_rotation"

    async def redeem(keys: str, key: str, *, sell: bool = False) -> int:
        """A fresh client and worker, both configured with exactly `keys`."""
        keyed = settings.model_copy(update={"codec_keys": SecretStr(keys)})
        client = await connect_temporal(keyed)
        service = PackageService(client=client, pool=pool, settings=keyed)
        async with build_worker(keyed, client) as worker, worker:
            if sell:
                await service.sell(
                    SaleRequest(client_id=ANA.client_id, type_code="laser6", purchase_id=package)
                )
            answer = await service.send(package, RedeemRequest(key=key, appointment_id=key))
        return answer.remaining

    assert await redeem(OLD, "k1", sell=True) == 5
    assert await redeem(f"{NEW},{OLD}", "k2") == 4

    bare = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    history = await bare.get_workflow_handle(package_workflow_id(package)).fetch_history()
    key_ids = {p.metadata.get(KEY_ID_METADATA) for p in payloads_of(history)}
    assert {b"old", b"new"} <= key_ids

    only_new = make_data_converter(EncryptionCodec.from_text(NEW))
    under_old = next(p for p in payloads_of(history) if p.metadata.get(KEY_ID_METADATA) == b"old")
    with pytest.raises(UnknownKeyError, match="'old'"):
        await only_new.decode([under_old])


async def test_a_process_without_keys_says_so_when_it_meets_encrypted_history(
    tmp_path: Path,
) -> None:
    [sealed] = await EncryptionCodec.from_text(NEW).encode([plain('"x"')])
    keyless = data_converter_for(Settings(data_dir=tmp_path))
    with pytest.raises(
        UnknownKeyError, match="no codec key is configured: set PUNCHCARD_CODEC_KEYS"
    ):
        await keyless.decode([sealed])
    assert await keyless.decode([plain('"old"')]) == ["old"]
