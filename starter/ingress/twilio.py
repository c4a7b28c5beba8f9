"""Twilio inbound SMS: check `X-Twilio-Signature`, read the reply, answer in TwiML.

The signature is checked by twilio-python's own `RequestValidator` (provider-formats.md
§2.4): the URL Twilio called, then every form parameter sorted by name as `name + value`
(a repeated name contributes each of its distinct values, sorted), HMAC-SHA1 keyed by the
auth token, base64; the URL is tried with and without an explicit port, as Twilio's own
signing is inconsistent about it. The answer is built by the SDK's `MessagingResponse`.

Behind a TLS-terminating proxy the app sees `http://internal:8000/…` while Twilio signed
`https://spa.example/…`: `public_url` rebuilds the address Twilio used.

Errors, all `WebhookRejected`:

    401  no auth token configured, header missing, no match
    422  MessageSid, From or Body missing; a field too long or holding a control character
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from starter.ingress import limits
from starter.ingress.base import WebhookRejected

SIGNATURE_HEADER = "X-Twilio-Signature"

Params = Sequence[tuple[str, str]] | Mapping[str, str]
Keyword = Literal["stop", "start", "help", "book"]

_KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "stop"
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
    "BOOK": "book",
}
_OPT_OUT_TYPES: dict[str, Keyword] = {"STOP": "stop", "START": "start", "HELP": "help"}
# Twilio's own bounds, with room: SIDs are 34 characters, addresses E.164 or
# `whatsapp:+…`, a message body at most 1,600 characters.
_LIMITS = {"MessageSid": 64, "From": 64, "To": 64, "OptOutType": 16, "Body": 1600}

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _pairs(params: Params) -> list[tuple[str, str]]:
    items: Iterable[tuple[str, str]] = params.items() if isinstance(params, Mapping) else params
    return list(items)


class _Form(dict[str, list[str]]):
    """Form parameters with repeated names kept, as RequestValidator reads them (`getlist`)."""

    def __init__(self, params: Params) -> None:
        super().__init__()
        for name, value in _pairs(params):
            self.setdefault(name, []).append(value)

    def getlist(self, name: str) -> list[str]:
        return self[name]


def expected_signature(url: str, params: Params, auth_token: str) -> str:
    """The `X-Twilio-Signature` Twilio sends for a form POST of `params` to exactly `url`."""
    signature: str = RequestValidator(auth_token).compute_signature(url, _Form(params))
    return signature


def verify(url: str, params: Params, signature: str | None, auth_token: str | None) -> None:
    """Accept the request or raise `WebhookRejected(401, reason)`.

    Args:
        url: the URL Twilio called, query string included (see `public_url`).
        params: the decoded form body, repeated names kept (empty for GET requests).
        signature: the `X-Twilio-Signature` header, None when absent.
        auth_token: the account's auth token.

    Raises:
        WebhookRejected: 401 naming the problem.
    """
    if not auth_token:
        raise WebhookRejected(401, "twilio: no auth token is configured")
    if not signature:
        raise WebhookRejected(401, f"twilio: {SIGNATURE_HEADER} header is missing")
    try:
        valid = RequestValidator(auth_token).validate(url, _Form(params), signature.strip())
    except ValueError:  # a port that is not a number
        raise WebhookRejected(401, f"twilio: cannot check a signature for {url}") from None
    if not valid:
        raise WebhookRejected(
            401,
            f"twilio: {SIGNATURE_HEADER} does not match {url} "
            "(behind a proxy, is the public base URL set?)",
        )


def public_url(request_url: str, public_base_url: str | None) -> str:
    """The URL Twilio called: the request's path and query under the configured public base.

    Args:
        request_url: the URL as the app saw it, e.g. `http://10.0.0.5:8000/webhooks/twilio?x=1`.
        public_base_url: `scheme://host[:port]` Twilio is configured with, or None to keep
            the request URL as it is.

    Raises:
        ValueError: the public base has a path, query or fragment (only the origin is replaced).
    """
    if not public_base_url:
        return request_url
    base = urlsplit(public_base_url)
    if not base.scheme or not base.netloc:
        raise ValueError(f"public base URL {public_base_url!r} needs a scheme and a host")
    if base.path.strip("/") or base.query or base.fragment:
        raise ValueError(
            f"public base URL {public_base_url!r} must be scheme://host[:port] with no path"
        )
    request = urlsplit(request_url)
    return urlunsplit(request._replace(scheme=base.scheme, netloc=base.netloc))


class InboundSms(BaseModel):
    """One inbound text; `keyword` is set only when the whole body is a keyword we act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_sid: str
    from_number: str
    to_number: str | None = None
    body: str
    keyword: Keyword | None = None


def parse_inbound(params: Params) -> InboundSms:
    """Read Twilio's inbound-message form parameters.

    Twilio sets `OptOutType` (Advanced Opt-Out) only when it acted on a keyword itself, so
    it wins; otherwise the whole body, stripped and upper-cased, is matched: "stop please"
    is no keyword.

    Raises:
        WebhookRejected: 422 when MessageSid, From or Body is missing.
    """
    first: dict[str, str] = {}
    for name, value in _pairs(params):
        first.setdefault(name, value)
    for required in ("MessageSid", "From", "Body"):
        if required not in first or (required != "Body" and not first[required]):
            raise WebhookRejected(422, f"twilio inbound: {required} is missing")
    for name, limit in _LIMITS.items():
        value = first.get(name, "")
        if len(value) > limit:
            raise WebhookRejected(
                422, f"twilio inbound: {name} is longer than {limit} characters ({len(value)})"
            )
        bad = limits.control_character(value)
        if bad is not None:
            raise WebhookRejected(422, f"twilio inbound: {name} holds the control character {bad}")
    opt_out = first.get("OptOutType", "").strip().upper()
    keyword = _OPT_OUT_TYPES.get(opt_out) or _KEYWORDS.get(first["Body"].strip().upper())
    return InboundSms(
        message_sid=first["MessageSid"],
        from_number=first["From"],
        to_number=first.get("To") or None,
        body=first["Body"],
        keyword=keyword,
    )


def twiml(reply: str | None) -> str:
    """The TwiML answer: a reply message, or none at all when `reply` is None or empty."""
    response = MessagingResponse()
    if reply:
        response.message(_NOT_XML.sub("", reply))
    answer: str = response.to_xml(xml_declaration=True)
    return answer
