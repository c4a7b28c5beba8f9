"""Outbound lifecycle webhooks: signed JSON events posted to the spa's subscribers."""

from activities.events.activities import EVENT_UNDELIVERED, EventActivities
from activities.events.publisher import (
    DEFAULT_TOLERANCE,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Attempt,
    WebhookPublisher,
    compute_signature,
    display_url,
    event_body,
    event_payload,
    parse_urls,
    signature_header,
    verify_signature,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "EVENT_UNDELIVERED",
    "SIGNATURE_HEADER",
    "Attempt",
    "EventActivities",
    "WebhookPublisher",
    "compute_signature",
    "display_url",
    "event_body",
    "event_payload",
    "parse_urls",
    "signature_header",
    "verify_signature",
]
