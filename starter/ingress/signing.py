"""Sign deliveries the way each provider does, for tests, local fakes and `punchcard webhook`.

Each helper returns the headers to send with the exact body bytes it was given; the
digests come from the provider modules, so signer and verifier cannot drift apart.
"""

from __future__ import annotations

import time
from typing import Literal

from starter.ingress import boulevard, mindbody, stripe, twilio


def boulevard_headers(
    body: bytes,
    secret: str,
    header: str = "x-blvd-signature",
    encoding: Literal["hex", "base64"] = "hex",
) -> dict[str, str]:
    """Boulevard's guessed scheme (unconfirmed): HMAC-SHA256 of the body, hex or base64."""
    return {header: boulevard.encode_digest(boulevard.digest(body, secret), encoding)}


def mindbody_headers(body: bytes, key: str) -> dict[str, str]:
    """`X-Mindbody-Signature: sha256=<base64>` under the subscription's signature key."""
    return {mindbody.SIGNATURE_HEADER: mindbody.expected_signature(body, key)}


def stripe_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """`Stripe-Signature: t=…,v1=…`, stamped now unless a timestamp is given."""
    at = int(time.time()) if timestamp is None else timestamp
    signature = stripe.compute_signature(at, body, secret)
    return {stripe.SIGNATURE_HEADER: f"t={at},{stripe.EXPECTED_SCHEME}={signature}"}


def twilio_headers(url: str, params: twilio.Params, token: str) -> dict[str, str]:
    """`X-Twilio-Signature` for a form POST of `params` to exactly `url`."""
    return {twilio.SIGNATURE_HEADER: twilio.expected_signature(url, params, token)}
