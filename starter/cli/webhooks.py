"""`punchcard webhook`: sign a JSON file the way a provider would, and send or print it.

For trying the receivers locally (and from curl) without the provider: the body is sent
byte for byte as it is in the file, signed with the secret configured for that provider.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import SecretStr

from starter.cli.runtime import CliError, run
from starter.ingress import signing
from workers.settings import Settings

SEND_TIMEOUT = 30.0

webhook_app = typer.Typer(
    help="Send signed provider webhooks to a running receiver (local testing).",
    no_args_is_help=True,
)


class Provider(StrEnum):
    BOULEVARD = "boulevard"
    MINDBODY = "mindbody"
    STRIPE = "stripe"


def _secret(settings: Settings, name: str, provider: Provider) -> str:
    """A signing secret from the settings; the fields may not exist in every version."""
    value = getattr(settings, name, None)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value:
        raise CliError(f"PUNCHCARD_{name.upper()} is not set: cannot sign a {provider} delivery")
    return str(value)


def headers_for(provider: Provider, body: bytes, settings: Settings) -> dict[str, str]:
    """The headers that make `body` a correctly signed delivery from `provider`."""
    if provider is Provider.BOULEVARD:
        secret = _secret(settings, "boulevard_webhook_secret", provider)
        # The receiver may try several names (comma-separated); sign with the first.
        header = str(getattr(settings, "boulevard_signature_header", None) or "x-blvd-signature")
        header = header.split(",")[0].strip()
        encoding = str(getattr(settings, "boulevard_signature_encoding", None) or "hex")
        if encoding not in ("hex", "base64", "either"):
            raise CliError(
                f"PUNCHCARD_BOULEVARD_SIGNATURE_ENCODING must be hex, base64 or either, not {encoding!r}"
            )
        signed = signing.boulevard_headers(
            body, secret, header=header, encoding="base64" if encoding == "base64" else "hex"
        )
    elif provider is Provider.MINDBODY:
        signed = signing.mindbody_headers(
            body, _secret(settings, "mindbody_signature_key", provider)
        )
    else:
        signed = signing.stripe_headers(body, _secret(settings, "stripe_webhook_secret", provider))
    return {"Content-Type": "application/json", **signed}


def _read_json(file: Path) -> bytes:
    body = file.read_bytes()
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise CliError(f"{file} is not JSON: {err}") from None
    return body


def _show(response: httpx.Response) -> str:
    try:
        answer: Any = response.json()
    except ValueError:
        return response.text
    return json.dumps(answer, indent=2)


ProviderArg = Annotated[Provider, typer.Argument(help="Which provider's signature to use.")]
FileArg = Annotated[Path, typer.Argument(help="The JSON body, sent exactly as stored.")]


@webhook_app.command()
def send(
    provider: ProviderArg,
    file: FileArg,
    url: Annotated[
        str, typer.Option(help="Where the receiver listens; posts to URL/webhooks/PROVIDER.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Sign FILE as PROVIDER would and POST it; prints the answer's status and body."""

    async def action(settings: Settings) -> None:
        body = _read_json(file)
        headers = headers_for(provider, body, settings)
        target = f"{url.rstrip('/')}/webhooks/{provider}"
        try:
            async with httpx.AsyncClient(timeout=SEND_TIMEOUT) as http:
                response = await http.post(target, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise CliError(f"cannot deliver to {target}: {type(err).__name__}") from None
        typer.echo(f"{response.status_code} {response.reason_phrase}")
        typer.echo(_show(response))
        if not response.is_success:
            raise CliError(f"the receiver refused the delivery ({response.status_code})")

    run(action, use_running_stack=False)


@webhook_app.command()
def sign(provider: ProviderArg, file: FileArg) -> None:
    """Print the headers that sign FILE as PROVIDER would, as `Name: value` lines for curl -H.

    A Stripe signature is stamped now and refused after five minutes.
    """

    async def action(settings: Settings) -> None:
        for name, value in headers_for(provider, _read_json(file), settings).items():
            typer.echo(f"{name}: {value}")

    run(action, use_running_stack=False)
