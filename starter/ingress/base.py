"""What every provider parser returns, the one error type they raise, and the reading of
JSON bodies they share (refusals worded alike, whoever the provider)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from starter.ingress import limits
from workflows.text import check_identifier
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


# --- shared by the JSON parsers ----------------------------------------------------------


def not_acted_on(
    provider: str, event_key: str, event_type: str, payload: dict[str, Any]
) -> ParsedDelivery:
    """A delivery of an event type we do not act on: answered 2xx, recorded as ignored."""
    return ParsedDelivery(
        provider=provider,
        event_key=event_key,
        event_type=event_type,
        ignored_reason=f"event type {event_type} is not acted on",
        payload=payload,
    )


# Provider ids (events, appointments, clients, services, staff) are capped where they are
# read, so a hostile value is refused before it is looked up, logged or stored.
WireId = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID)]
WireName = Annotated[str, Field(max_length=500)]  # a service or staff name, an event type


def _informational_id(value: object) -> object:
    """Kept when it is text or a whole number fit for an id, else dropped: a field read only
    to inform (where a visit took place) is never a reason to refuse a delivery."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > limits.MAX_ID:
        return None
    try:
        return check_identifier(value.strip())
    except ValueError:
        return None


InfoId = Annotated[str | None, BeforeValidator(_informational_id)]


class Wire(BaseModel):
    """A provider's camelCase JSON; unknown fields ignored, error paths spelled as on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", frozen=True)


_M = TypeVar("_M", bound=BaseModel)


def json_object(body: bytes, provider: str) -> dict[str, Any]:
    """The body decoded as a JSON object.

    Raises:
        WebhookRejected: 400 naming `provider` when the body is not JSON or not an object,
            or nests too deep; 422 naming the value out of bounds (`limits.read_json`).
    """
    try:
        payload = limits.read_json(body, provider)
    except limits.BodyRefused as err:
        raise WebhookRejected(err.status, err.reason) from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, f"{provider}: body is JSON but not an object")
    return payload


@contextmanager
def unprocessable(where: str) -> Iterator[None]:
    """Turn a `ValidationError` raised inside into `WebhookRejected(422, "{where}: …")`."""
    try:
        yield
    except ValidationError as err:
        raise WebhookRejected(422, f"{where}: {explain(err)}") from None


def validate(model: type[_M], payload: dict[str, Any], where: str) -> _M:
    """`model` read from `payload`; a problem is a 422 prefixed with `where` (e.g. "mindbody")."""
    with unprocessable(where):
        return model.model_validate(payload)


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number"}
_PLAIN = {  # pydantic error types, said in JSON's words
    "model_type": "should be an object",
    "dict_type": "should be an object",
    "list_type": "should be an array",
    "string_type": "should be a string",
    "bool_type": "should be true or false",
    "datetime_type": "should be an ISO-8601 date-time",
    "datetime_parsing": "should be an ISO-8601 date-time",
    "datetime_from_date_parsing": "should be an ISO-8601 date-time",
    "id_type": "should be a string or an integer",  # mindbody's ids (a custom error type)
}


def explain(err: ValidationError) -> str:
    """The first problem as one line, the path as on the wire: `data.node.id is missing`,
    `eventData.siteId should be a string or an integer (got boolean)`."""
    first = err.errors()[0]
    path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in first["loc"])
    path = path.replace(".[", "[") or "body"
    if first["type"] == "missing":
        return f"{path} is missing"
    got = first.get("input")
    kind = "null" if got is None else "boolean" if isinstance(got, bool) else None
    kind = kind or _JSON_TYPES.get(type(got), type(got).__name__)
    plain = _PLAIN.get(first["type"])
    message = f" {plain}" if plain else ": " + first["msg"][:1].lower() + first["msg"][1:]
    return f"{path}{message} (got {kind})"


def as_utc(at: datetime) -> datetime:
    """A naive date-time taken as UTC; an aware one as it is."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
