"""Hostile input at the door, through a real HTTP server (uvicorn) on the real stack.

The promise: bad input gets a clear 4xx (never a 5xx), no request stalls the server
(`/health` keeps answering within a second while bad input flows), and what is answered
2xx lands — the visit or payment workflow processes it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from starter.api.app import create_app
from starter.ingress.signing import (
    boulevard_headers,
    mindbody_headers,
    stripe_headers,
    twilio_headers,
)
from tests.conftest import eventually
from tests.starter.api.conftest import (
    BOULEVARD_SECRET,
    MINDBODY_KEY,
    STRIPE_SECRET,
    Api,
)
from tests.starter.api.payloads import boulevard_event, mindbody_event
from tests.starter.api.test_stripe_twilio_webhooks import stripe_event
from tests.workflows.conftest import Spa
from workers.settings import Settings
from workflows.visit_models import VisitView

JSON_TYPE = {"content-type": "application/json"}
TWILIO_PATH = "/webhooks/twilio/sms"


@dataclass
class Served:
    """The app behind a real socket, and what the health probe saw meanwhile."""

    base_url: str
    health_latencies: list[float] = field(default_factory=list)
    health_statuses: list[int] = field(default_factory=list)


@pytest.fixture
async def served(
    api: Api, settings: Settings, client: Client, pool: asyncpg.Pool
) -> AsyncIterator[Served]:
    app = create_app(settings, client=client, pool=pool)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: asyncio.sleep(0, server.started), bool)
    result = Served(base_url=f"http://127.0.0.1:{port}")
    stop = asyncio.Event()

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=result.base_url, timeout=10) as http:
            while not stop.is_set():
                started = time.perf_counter()
                answer = await http.get("/health")
                result.health_latencies.append(time.perf_counter() - started)
                result.health_statuses.append(answer.status_code)
                await asyncio.sleep(0.2)

    probing = asyncio.create_task(probe())
    try:
        yield result
    finally:
        stop.set()
        await probing
        server.should_exit = True
        await serving
        sock.close()


def assert_health_held(served: Served) -> None:
    assert served.health_latencies, "the health probe never ran"
    assert set(served.health_statuses) == {200}
    assert max(served.health_latencies) < 1.0, sorted(served.health_latencies)[-5:]


# --- what a hostile sender tries ----------------------------------------------------------

DEEP = "[" * 5000 + "]" * 5000
HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            -1,
            0,
            2**63,
            2**64,
            -(2**63) - 1,
            10**30,
            1e308,
            "",
            "\x00",
            "Laser\x00Face",
            "\ud800",
            "\x1b[31m",
            "x" * 151,
            "x" * 20_000,
            "ana@" + "a" * 5000,
            [],
            {},
            {
                "a": {
                    "b": {
                        "c": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
                    }
                }
            },
        ]
    ),
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"\xff\xfe{\x00}\x00",
            DEEP.encode(),
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b'{"a": 1e400}',
            b'{"a": ' + b"9" * 5000 + b"}",
            b'{"a": "\\ud800"}',
            json.dumps({"id": "x"}).encode("utf-16"),
        ]
    ),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "",
    ]
)


def mutate(payload: dict[str, Any], choices: list[int], value: object) -> dict[str, Any]:
    """`payload` with one value (picked by walking with `choices`) replaced by `value`."""
    copy = json.loads(json.dumps(payload))
    node: Any = copy
    for choice in choices:
        if isinstance(node, dict) and node:
            key = sorted(node)[choice % len(node)]
            if not isinstance(node[key], dict | list) or not node[key]:
                node[key] = value
                return copy
            node = node[key]
        elif isinstance(node, list) and node:
            index = choice % len(node)
            if not isinstance(node[index], dict | list) or not node[index]:
                node[index] = value
                return copy
            node = node[index]
    if isinstance(node, dict):
        node["injected"] = value
    return copy


def provider_payload(provider: str) -> dict[str, Any]:
    appointment = uuid.uuid4().hex[:12]
    if provider == "boulevard":
        return boulevard_event("APPOINTMENT_COMPLETED", appointment)
    if provider == "mindbody":
        return mindbody_event("appointmentBooking.updated", int(appointment[:8], 16), "Completed")
    event = stripe_event()
    event["data"]["object"]["payment_intent"] = f"pi_{appointment}"
    return event


def signed(provider: str, body: bytes) -> dict[str, str]:
    if provider == "boulevard":
        return boulevard_headers(body, BOULEVARD_SECRET)
    if provider == "mindbody":
        return mindbody_headers(body, MINDBODY_KEY)
    return stripe_headers(body, STRIPE_SECRET)


@dataclass
class Answer:
    provider: str
    status: int
    seconds: float
    body: dict[str, Any]


class Sender:
    """Sync HTTP from Hypothesis' thread, every answer kept."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.answers: list[Answer] = []
        self.lock = threading.Lock()

    def post(self, provider: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        started = time.perf_counter()
        response = self.http.post(path, content=body, headers=headers)
        try:
            content = response.json()
        except ValueError:
            content = {"raw": response.text[:200]}
        answer = Answer(provider, response.status_code, time.perf_counter() - started, content)
        with self.lock:
            self.answers.append(answer)
        return answer


def check(answer: Answer) -> None:
    assert answer.status < 500, answer
    assert answer.seconds < 1.0, answer
    if answer.status >= 400 and "raw" not in answer.body:
        detail = answer.body.get("detail")
        assert isinstance(detail, str) and detail and "\n" not in detail, answer


def run_in_thread(test: Callable[[], None]) -> Any:
    return asyncio.to_thread(test)


PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the properties -------------------------------------------------------------------


async def test_signed_mutated_deliveries_get_a_4xx_or_land(
    served: Served, client: Client, spa: Spa
) -> None:
    sender = Sender(served.base_url)

    @PROPERTY_SETTINGS
    @given(
        provider=st.sampled_from(["boulevard", "mindbody", "stripe"]),
        choices=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=6),
        value=HOSTILE_VALUES,
    )
    def deliveries(provider: str, choices: list[int], value: object) -> None:
        payload = mutate(provider_payload(provider), choices, value)
        body = json.dumps(payload).encode()
        headers = {**JSON_TYPE, **signed(provider, body)}
        check(sender.post(provider, f"/webhooks/{provider}", body, headers))

    await run_in_thread(deliveries)
    assert_health_held(served)
    accepted = [a for a in sender.answers if a.status < 300 and a.body["status"] == "accepted"]
    assert accepted, "no mutation was harmless: the property checks nothing that lands"
    for answer in accepted:
        await assert_landed(client, answer)


async def assert_landed(client: Client, answer: Answer) -> None:
    """A 2xx visit is processed by its visit workflow (a step recorded for its key); a
    2xx payment by its payment workflow (the event listed in its outcome)."""
    key = answer.body["event_key"]
    if answer.provider == "stripe":
        workflow_id = answer.body["detail"].rsplit(" ", 1)[-1]
        handle = client.get_workflow_handle(workflow_id)

        async def events() -> list[str]:
            outcome = await handle.query("outcome")
            return list(outcome["events"]) if isinstance(outcome, dict) else []

        await eventually(events, lambda seen: any(key in e for e in seen), timeout=30)
        return
    handle = client.get_workflow_handle(answer.body["visit_workflow_id"])

    async def seen() -> VisitView:
        return await handle.query("state", result_type=VisitView)

    await eventually(seen, lambda view: key in view.state.seen, timeout=30)


async def test_raw_bodies_and_content_types_never_get_a_5xx(served: Served) -> None:
    sender = Sender(served.base_url)

    @PROPERTY_SETTINGS
    @given(
        path=st.sampled_from(
            [
                "/webhooks/boulevard",
                "/webhooks/mindbody",
                "/webhooks/stripe",
                TWILIO_PATH,
                "/api/sales",
                "/api/imports/appointments",
                "/codec/decode",
            ]
        ),
        body=RAW_BODIES,
        content_type=CONTENT_TYPES,
        sign=st.booleans(),
    )
    def raw(path: str, body: bytes, content_type: str, sign: bool) -> None:
        headers = {"content-type": content_type} if content_type else {}
        provider = path.split("/")[2] if path.startswith("/webhooks/") else "api"
        if sign and provider in ("boulevard", "mindbody", "stripe"):
            headers |= signed(provider, body)
        check(sender.post(provider, path, body, headers))

    await run_in_thread(raw)
    assert_health_held(served)


async def test_twilio_forms_with_hostile_fields_never_get_a_5xx(
    served: Served, settings: Settings
) -> None:
    sender = Sender(served.base_url)
    token = settings.twilio_auth_token
    assert token is not None
    public = f"https://punchcard.example{TWILIO_PATH}"  # the API's public URL in tests

    @PROPERTY_SETTINGS
    @given(
        name=st.sampled_from(["MessageSid", "From", "To", "Body", "OptOutType", "Other"]),
        value=st.one_of(
            st.text(max_size=50),
            st.sampled_from(["\x00", "STOP\x00", "x" * 2000, "\ud7ff", "SM" + "0" * 500]),
        ),
    )
    def forms(name: str, value: str) -> None:
        params = {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "From": "+15555550100",
            "To": "+15555550199",
            "Body": "HELP",
        }
        params[name] = value
        body = urlencode(params).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            **twilio_headers(public, list(params.items()), token.get_secret_value()),
        }
        check(sender.post("twilio", TWILIO_PATH, body, headers))

    await run_in_thread(forms)
    assert_health_held(served)


# --- the limits, one by one -------------------------------------------------------------


async def test_the_door_refuses_oversized_and_mistyped_requests_by_name(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
        five_mb = b"{" + b" " * (5 * 1024 * 1024) + b"}"
        big = await http.post("/webhooks/stripe", content=five_mb, headers=JSON_TYPE)
        assert big.status_code == 413 and "at most 512 KiB" in big.json()["detail"]

        xml = await http.post(
            "/webhooks/boulevard", content=b"<a/>", headers={"content-type": "application/xml"}
        )
        assert xml.status_code == 415
        assert "application/json" in xml.json()["detail"]

        form = await http.post("/webhooks/twilio/sms", content=b"{}", headers=JSON_TYPE)
        assert form.status_code == 415

        long_header = await http.get("/health", headers={"x-junk": "a" * 20_000})
        assert long_header.status_code == 431 and "x-junk" in long_header.json()["detail"]

        long_path = await http.get("/api/packages/" + "p" * 5000)
        assert long_path.status_code == 414

        deep = await http.post("/webhooks/mindbody", content=DEEP.encode(), headers=JSON_TYPE)
        assert deep.status_code in (400, 401)

        staff_deep = await http.post("/api/sales", content=DEEP.encode(), headers=JSON_TYPE)
        assert staff_deep.status_code == 400
        assert "nests deeper than 32" in staff_deep.json()["detail"]

        nul_name = await http.post(
            "/api/sales", content=b'{"client_id": "c\\u0000x"}', headers=JSON_TYPE
        )
        assert nul_name.status_code == 422 and "U+0000" in nul_name.json()["detail"]

    assert_health_held(served)


async def test_a_signed_delivery_with_a_huge_client_id_is_refused_at_once(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
        for size, status in ((1024 * 1024, 413), (200_000, 422), (151, 422)):
            event = boulevard_event(
                "APPOINTMENT_COMPLETED", uuid.uuid4().hex, client_urn="c" * size
            )
            body = json.dumps(event).encode()
            headers = {**JSON_TYPE, **signed("boulevard", body)}
            started = time.perf_counter()
            answer = await http.post("/webhooks/boulevard", content=body, headers=headers)
            assert time.perf_counter() - started < 1.0
            assert answer.status_code == status, answer.text
            if status == 422:
                assert "clientId" in answer.json()["detail"]
    assert_health_held(served)


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        ("created", 10**17, "created"),
        ("created", -5, "created"),
        ("amount_total", 2**64, "amount_total"),
        ("amount_total", -100, "amount_total"),
        ("amount_total", 1.5, "amount_total"),
        ("payment_intent", "pi_" + "x" * 300, "payment_intent"),
        ("currency", "dollars", "currency"),
    ],
)
async def test_stripe_values_out_of_range_are_a_422_naming_the_field(
    served: Served, where: str, value: object, says: str
) -> None:
    event = stripe_event()
    if where == "created":
        event["created"] = value
    else:
        event["data"]["object"][where] = value
    body = json.dumps(event).encode()
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
        answer = await http.post(
            "/webhooks/stripe", content=body, headers={**JSON_TYPE, **signed("stripe", body)}
        )
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["detail"]


async def test_a_nul_in_a_service_name_is_refused_before_it_is_answered(
    served: Served, pool: asyncpg.Pool
) -> None:
    event = boulevard_event("APPOINTMENT_COMPLETED", "nul-1", service="Laser\x00Face")
    body = json.dumps(event).encode()
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
        answer = await http.post(
            "/webhooks/boulevard", content=body, headers={**JSON_TYPE, **signed("boulevard", body)}
        )
    assert answer.status_code == 422
    assert "U+0000" in answer.json()["detail"] and "name" in answer.json()["detail"]
    rows = await pool.fetchval("SELECT count(*) FROM inbound_events WHERE status = 'accepted'")
    assert rows == 0
