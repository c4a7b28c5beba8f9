"""The signing helpers agree with the verifiers, and `punchcard webhook` uses them."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from starter.cli import runtime
from starter.cli.webhooks import Provider, headers_for, webhook_app
from starter.ingress import boulevard, mindbody, signing, stripe, twilio
from starter.ingress.base import WebhookRejected
from starter.ingress.boulevard import BoulevardSignature
from workers.settings import Settings

BODY = b'{"idempotencyKey":"k1","eventType":"APPOINTMENT_COMPLETED"}'


def test_boulevard_headers_verify_in_both_encodings() -> None:
    hexed = signing.boulevard_headers(BODY, "s3cret")
    assert list(hexed) == ["x-blvd-signature"]
    boulevard.verify(BODY, hexed, BoulevardSignature(secret="s3cret", encoding="hex"))
    based = signing.boulevard_headers(BODY, "s3cret", header="Blvd-Signature", encoding="base64")
    boulevard.verify(BODY, based, BoulevardSignature(secret="s3cret", encoding="base64"))
    with pytest.raises(WebhookRejected):
        boulevard.verify(BODY, based, BoulevardSignature(secret="other"))


def test_mindbody_headers_match_the_documented_vector() -> None:
    headers = signing.mindbody_headers(b'{"messageId":"m1"}', "test-signature-key")
    assert headers == {
        "X-Mindbody-Signature": "sha256=L61x2wJs6M8kscEbQKUGKq03Gx8LEpiNHjbpd1d+WUA="
    }
    mindbody.verify(b'{"messageId":"m1"}', headers, "test-signature-key")


def test_stripe_headers_match_the_documented_vector_and_default_to_now() -> None:
    body = b'{"id":"evt_test","object":"event"}'
    assert signing.stripe_headers(body, "whsec_test_secret", timestamp=1700000000) == {
        "Stripe-Signature": (
            "t=1700000000,v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724"
        )
    }
    fresh = signing.stripe_headers(body, "whsec_test_secret")["Stripe-Signature"]
    stamped = int(fresh.split(",")[0].removeprefix("t="))
    assert abs(stamped - time.time()) < 5
    stripe.verify(body, fresh, "whsec_test_secret")


def test_twilio_headers_match_the_documented_vector() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    headers = signing.twilio_headers(url, params, "12345")
    assert headers == {"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}
    twilio.verify(url, list(params.items()), headers["X-Twilio-Signature"], "12345")


# --- punchcard webhook -----------------------------------------------------------------


class SigningSettings(Settings):
    """Settings carrying the webhook secrets (declared here too, in case Settings lacks them)."""

    boulevard_webhook_secret: SecretStr | None = None
    boulevard_signature_header: str = "x-blvd-signature"
    boulevard_signature_encoding: str = "either"
    mindbody_signature_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None


SECRETS = SigningSettings(
    boulevard_webhook_secret=SecretStr("blvd-secret"),
    boulevard_signature_header="Blvd-Signature, x-blvd-signature",
    boulevard_signature_encoding="base64",
    mindbody_signature_key=SecretStr("mb-key"),
    stripe_webhook_secret=SecretStr("whsec_cli"),
)


def test_headers_for_each_provider_verify() -> None:
    blvd = headers_for(Provider.BOULEVARD, BODY, SECRETS)
    assert blvd["Content-Type"] == "application/json"
    assert "Blvd-Signature" in blvd  # the first configured name
    boulevard.verify(BODY, blvd, BoulevardSignature(secret="blvd-secret", encoding="base64"))
    mindbody.verify(BODY, headers_for(Provider.MINDBODY, BODY, SECRETS), "mb-key")
    stripe_header = headers_for(Provider.STRIPE, BODY, SECRETS)["Stripe-Signature"]
    stripe.verify(BODY, stripe_header, "whsec_cli")


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_bytes(BODY)
    return path


@pytest.fixture
def with_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "load_settings", lambda **_: SECRETS)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(webhook_app, list(args))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.usefixtures("with_secrets")
def test_sign_prints_curl_headers(body_file: Path) -> None:
    result = invoke("sign", "mindbody", str(body_file))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Content-Type: application/json"
    name, _, value = lines[1].partition(": ")
    mindbody.verify(BODY, {name: value}, "mb-key")


def test_sign_without_a_secret_is_one_line(
    body_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUNCHCARD_STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setattr(runtime, "load_settings", lambda **_: Settings())
    assert one_line_error(invoke("sign", "stripe", str(body_file))) == (
        "PUNCHCARD_STRIPE_WEBHOOK_SECRET is not set: cannot sign a stripe delivery"
    )


@pytest.mark.usefixtures("with_secrets")
def test_a_file_that_is_not_json_or_not_there_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert one_line_error(invoke("sign", "stripe", str(bad))).startswith(f"{bad} is not JSON")
    assert "No such file" in one_line_error(invoke("sign", "stripe", str(tmp_path / "x.json")))


@pytest.mark.usefixtures("with_secrets")
def test_an_unknown_provider_is_a_usage_error(body_file: Path) -> None:
    result = invoke("sign", "zenoti", str(body_file))
    assert result.exit_code == 2


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A receiver that checks Stripe signatures the way the real route will."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"path": request.path, "body": body})
        try:
            stripe.verify(body, request.headers.get("Stripe-Signature"), "whsec_cli")
        except WebhookRejected as err:
            return web.json_response({"error": err.reason}, status=err.status)
        return web.json_response({"accepted": True, "event": json.loads(body)["idempotencyKey"]})

    app = web.Application()
    app.router.add_post("/webhooks/{provider}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


@pytest.mark.usefixtures("with_secrets")
async def test_send_posts_the_exact_bytes_signed(
    body_file: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = receiver
    result = await asyncio.to_thread(invoke, "send", "stripe", str(body_file), "--url", url + "/")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "200 OK"
    assert json.loads(result.stdout.split("\n", 1)[1]) == {"accepted": True, "event": "k1"}
    assert seen == [{"path": "/webhooks/stripe", "body": BODY}]


@pytest.mark.usefixtures("with_secrets")
async def test_send_reports_a_refusal(
    body_file: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, _ = receiver
    result = await asyncio.to_thread(invoke, "send", "mindbody", str(body_file), "--url", url)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "401 Unauthorized"
    assert "Stripe-Signature header is missing" in result.stdout
    assert result.stderr.strip() == "the receiver refused the delivery (401)"


@pytest.mark.usefixtures("with_secrets")
def test_send_to_nothing_is_one_line(body_file: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the send: nothing listens
    result = invoke("send", "stripe", str(body_file), "--url", f"http://127.0.0.1:{port}")
    assert one_line_error(result) == (
        f"cannot deliver to http://127.0.0.1:{port}/webhooks/stripe: ConnectError"
    )
