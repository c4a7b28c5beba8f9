"""What Temporal itself stores: read raw history with a client that has no key.

A package is sold, redeemed by a Mindbody webhook (whose body names the client), and a
staff member reverses it with a note that quotes the client's name, phone and email —
free text is where contact details really end up. Temporal's copy must hold none of it
in plaintext; the same history decoded with the key must (so this test can fail).
"""

from __future__ import annotations

import json

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory

from tests.conftest import codec_for_tests, eventually
from tests.platform.history import payloads_of

# The API on the real stack, with its provider secrets (fixtures, used by name).
from tests.starter.api.conftest import Api, api, mindbody_api, settings  # noqa: F401
from tests.starter.api.payloads import mindbody_event, signed_mindbody
from tests.workflows.conftest import ANA, Spa
from workers.codec import ENCODING
from workflows.ids import package_workflow_id, visit_workflow_id

NOTE = f"{ANA.name} called from {ANA.phone} ({ANA.email}): was charged twice"
PII = {"name": ANA.name, "phone": ANA.phone, "email": ANA.email}


async def raw_history(client: Client, workflow_id: str) -> WorkflowHistory:
    """The history as the Temporal server returns it, through a client with no codec."""
    bare = await Client.connect(
        client.service_client.config.target_host, namespace=client.namespace
    )
    return await bare.get_workflow_handle(workflow_id).fetch_history()


def plaintext(history: WorkflowHistory, payloads: list[Payload]) -> str:
    """Everything a reader of the raw history can see: the JSON and every payload's bytes."""
    return history.to_json() + "".join(p.data.decode("utf-8", errors="replace") for p in payloads)


async def test_raw_history_holds_no_client_contact_details(
    api: Api,  # noqa: F811
    spa: Spa,
    client: Client,
) -> None:
    (package,) = await spa.sell("laser6")
    appointment = 730111
    body, headers = signed_mindbody(
        mindbody_event("appointmentBooking.updated", appointment, "Completed")
    )
    assert b'"clientFirstName": "Ana"' in body or b'"clientFirstName":"Ana"' in body
    answer = await api.http.post("/webhooks/mindbody", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    await eventually(
        lambda: spa.ledger.balance(package), lambda b: b is not None and b.remaining == 5
    )
    reversed_ = await api.http.post(
        f"/api/packages/{package}/reverse",
        json={"appointment_id": f"mindbody:{appointment}", "reason": NOTE},
        headers=api.desk,
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["remaining"] == 6

    codec = codec_for_tests()
    decoded_text = ""
    for workflow_id in (
        package_workflow_id(package),
        visit_workflow_id("mindbody", str(appointment)),
    ):
        history = await raw_history(client, workflow_id)
        payloads = payloads_of(history)
        assert payloads, f"{workflow_id}: no payloads found"
        unencrypted = [
            p.metadata.get("encoding") for p in payloads if p.metadata.get("encoding") != ENCODING
        ]
        assert not unencrypted, f"{workflow_id}: unencrypted payloads {unencrypted}"
        seen = plaintext(history, payloads)
        for what, value in PII.items():
            assert value and value not in seen, f"{workflow_id}: client {what} in raw history"
        decoded_text += "".join(p.data.decode() for p in await codec.decode(payloads))

    # The control: with the key, the staff note is there in full.
    assert json.dumps(NOTE)[1:-1] in decoded_text or NOTE in decoded_text
    for what, value in PII.items():
        assert value in decoded_text, f"decoded history lacks the client {what}"
