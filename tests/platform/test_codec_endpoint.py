"""The Temporal UI's codec endpoint: staff only, CORS for the UI's origin only, real payloads."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from activities.repository import Role, StaffMember, StaffRepository
from starter.api.app import create_app
from tests.platform.history import payloads_of
from tests.platform.test_raw_history import raw_history
from tests.workflows.conftest import ANA, Spa
from workers.codec import ENCODING, KEY_ID_METADATA
from workers.settings import Settings
from workflows.ids import package_workflow_id

UI = "http://localhost:8233"
ELSEWHERE = "https://evil.example"


@dataclass
class CodecApi:
    http: httpx.AsyncClient
    desk: dict[str, str]
    manager: dict[str, str]


@pytest.fixture
async def codec_api(
    settings: Settings, client: Client, pool: asyncpg.Pool, spa: Spa
) -> AsyncIterator[CodecApi]:
    app = create_app(
        settings.model_copy(update={"temporal_ui_origin": UI}), client=client, pool=pool
    )
    staff = StaffRepository(pool)
    desk = await staff.add(StaffMember(staff_id="fd", name="Front Desk", role=Role.FRONT_DESK))
    manager = await staff.add(StaffMember(staff_id="mgr", name="Manager", role=Role.MANAGER))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        ) as http,
    ):
        yield CodecApi(
            http=http,
            desk={"Authorization": f"Bearer {desk}"},
            manager={"Authorization": f"Bearer {manager}"},
        )


async def sold_input(spa: Spa, client: Client) -> dict[str, Any]:
    """The encrypted start input of a real package workflow, as the UI would send it."""
    (package,) = await spa.sell("laser6")
    history = await raw_history(client, package_workflow_id(package))
    started = payloads_of(history)[0]
    assert started.metadata["encoding"] == ENCODING
    return json_format.MessageToDict(Payloads(payloads=[started]))


def decoded(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    payloads = json_format.ParseDict(body, Payloads())
    return [(p.metadata["encoding"].decode(), p.data) for p in payloads.payloads]


async def test_decoding_needs_a_staff_token(codec_api: CodecApi, spa: Spa, client: Client) -> None:
    body = await sold_input(spa, client)
    missing = await codec_api.http.post("/codec/decode", json=body)
    assert missing.status_code == 401
    assert "missing staff token" in missing.json()["detail"]
    wrong = await codec_api.http.post(
        "/codec/decode", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "unknown or revoked staff token"


async def test_any_staff_member_reads_the_real_history_payload(
    codec_api: CodecApi, spa: Spa, client: Client
) -> None:
    body = await sold_input(spa, client)
    for who in (codec_api.desk, codec_api.manager):
        answer = await codec_api.http.post(
            "/codec/decode", json=body, headers={**who, "X-Namespace": "default"}
        )
        assert answer.status_code == 200, answer.text
        [(encoding, data)] = decoded(answer.json())
        assert encoding == "json/plain"
        assert f'"client_id":"{ANA.client_id}"' in data.decode()


async def test_encode_then_decode_round_trips_under_the_current_key(codec_api: CodecApi) -> None:
    plain = {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(b'"hello"').decode(),
            }
        ]
    }
    sealed = await codec_api.http.post("/codec/encode", json=plain, headers=codec_api.desk)
    assert sealed.status_code == 200, sealed.text
    [payload] = json_format.ParseDict(sealed.json(), Payloads()).payloads
    assert payload.metadata[KEY_ID_METADATA] == b"test-1"
    assert b"hello" not in payload.data
    opened = await codec_api.http.post("/codec/decode", json=sealed.json(), headers=codec_api.desk)
    assert decoded(opened.json()) == [("json/plain", b'"hello"')]


async def test_garbage_and_tampering_are_a_400_naming_the_problem(
    codec_api: CodecApi, spa: Spa, client: Client
) -> None:
    not_base64 = {"payloads": [{"metadata": {"encoding": "json/plain"}, "data": ""}]}
    bad = await codec_api.http.post("/codec/decode", json=not_base64, headers=codec_api.desk)
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("payloads.0.metadata.encoding: Value error, not base64")

    body = await sold_input(spa, client)
    data = bytearray(base64.b64decode(body["payloads"][0]["data"]))
    data[-1] ^= 1
    body["payloads"][0]["data"] = base64.b64encode(bytes(data)).decode()
    tampered = await codec_api.http.post("/codec/decode", json=body, headers=codec_api.desk)
    assert tampered.status_code == 400
    assert "key id 'test-1' failed authentication" in tampered.json()["detail"]


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }


async def test_cors_lets_the_temporal_ui_in_and_no_one_else(
    codec_api: CodecApi, spa: Spa, client: Client
) -> None:
    allowed = await codec_api.http.options("/codec/decode", headers=preflight(UI))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert allowed.headers["access-control-allow-credentials"] == "true"
    granted = {
        h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "x-namespace"} <= granted

    refused = await codec_api.http.options("/codec/decode", headers=preflight(ELSEWHERE))
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    body = await sold_input(spa, client)
    from_ui = await codec_api.http.post(
        "/codec/decode", json=body, headers={**codec_api.desk, "Origin": UI}
    )
    assert from_ui.status_code == 200 and from_ui.headers["access-control-allow-origin"] == UI
    # Even a refusal reaches the UI readable, so it can say "sign in".
    unauthorised = await codec_api.http.post("/codec/decode", json=body, headers={"Origin": UI})
    assert unauthorised.status_code == 401
    assert unauthorised.headers["access-control-allow-origin"] == UI
    from_elsewhere = await codec_api.http.post(
        "/codec/decode", json=body, headers={**codec_api.desk, "Origin": ELSEWHERE}
    )
    assert "access-control-allow-origin" not in from_elsewhere.headers
    # The rest of the API has no CORS at all, not even for the UI.
    staff_api = await codec_api.http.options("/api/me", headers=preflight(UI))
    assert "access-control-allow-origin" not in staff_api.headers


async def test_a_browser_session_cookie_lets_the_ui_decode_without_a_header(
    codec_api: CodecApi, spa: Spa, client: Client
) -> None:
    body = await sold_input(spa, client)
    page = await codec_api.http.get("/codec")
    assert page.status_code == 200 and UI in page.text
    opened = await codec_api.http.post("/codec/session", headers=codec_api.desk)
    assert opened.status_code == 200 and opened.json()["staff_id"] == "fd"
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "path=/codec" in cookie and "samesite=lax" in cookie
    by_cookie = await codec_api.http.post("/codec/decode", json=body, headers={"Origin": UI})
    assert by_cookie.status_code == 200, by_cookie.text
    closed = await codec_api.http.delete("/codec/session")
    assert closed.status_code == 204
    after = await codec_api.http.post("/codec/decode", json=body)
    assert after.status_code == 401
