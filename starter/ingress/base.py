"""What every provider parser returns, and the one error type they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflows.visit_models import VisitEvent


class WebhookRejected(Exception):
    """A delivery we refuse. `status` is the HTTP status to answer (400, 401, 422);
    str() is one line naming the problem, returned to the sender and recorded."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ParsedDelivery:
    """One verified, parsed delivery.

    `visit` is None for event types we do not act on (answered 2xx, recorded as ignored);
    `ignored_reason` then says why. `payload` is the decoded body, kept for the record.
    """

    provider: str
    event_key: str
    event_type: str
    visit: VisitEvent | None = None
    ignored_reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
