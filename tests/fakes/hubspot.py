"""A local stand-in for HubSpot's CRM v3 contact update (provider-formats.md §5).

    PATCH /crm/v3/objects/contacts/{contactId}
    PATCH /crm/v3/objects/contacts/{email}?idProperty=email

It checks what HubSpot checks that we can check offline: `Authorization: Bearer <token>`
(401 otherwise), a JSON body `{"properties": {...}}` with string values, that every
property exists (400 `VALIDATION_ERROR` with HubSpot's `PROPERTY_DOESNT_EXIST` text), and
that a date property holds a date: midnight UTC in epoch milliseconds, or `YYYY-MM-DD`
(any other time of day is HubSpot's "… is at 4:10:33.600 UTC, not midnight!"). It
answers 200 with a `SimplePublicObject`, 404 `OBJECT_NOT_FOUND` for an unknown contact, and
scripted 429s with `Retry-After` and the rate-limit headers. Writes are recorded.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

_ids = itertools.count(501)

# Date properties: the two dates are created as HubSpot "date" (date picker) properties.
DATE_PROPERTIES = frozenset({"punchcard_package_expires", "punchcard_last_session"})

PUNCHCARD_PROPERTIES = (
    "punchcard_sessions_remaining",
    "punchcard_package_name",
    "punchcard_package_expires",
    "punchcard_last_session",
    "punchcard_renewal_link",
    "punchcard_package_status",
)


@dataclass
class Contact:
    id: str
    email: str | None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class HubSpotFake:
    token: str = "pat-na1-test-token"
    known_properties: set[str] = field(
        default_factory=lambda: {"email", "firstname", "lastname", *PUNCHCARD_PROPERTIES}
    )
    date_properties: frozenset[str] = DATE_PROPERTIES
    contacts: dict[str, Contact] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _throttle: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def add_contact(self, email: str | None = None) -> str:
        contact_id = str(next(_ids))
        self.contacts[contact_id] = Contact(contact_id, email)
        return contact_id

    def throttle_next(self, times: int, *, retry_after: int) -> None:
        """Answer the next `times` authorised requests 429 with this Retry-After."""
        self._throttle.extend([retry_after] * times)

    def date_of(self, contact_id: str, name: str) -> date | None:
        """The day a date property holds, as HubSpot shows it (the UTC date), or None."""
        value = self.contacts[contact_id].properties.get(name, "")
        return _stored_date(value) if value else None

    def writes(self) -> list[dict[str, Any]]:
        """The authorised requests that changed a contact, in order."""
        return [r for r in self.requests if r["status"] == 200]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_patch("/crm/v3/objects/contacts/{contact}", self._update)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _error(
        status: int,
        category: str,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> web.Response:
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }
        return web.json_response(body, status=status, headers=headers)

    async def _update(self, request: web.Request) -> web.Response:
        record: dict[str, Any] = {
            "path": request.path,
            "query": dict(request.query),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": await request.text(),
            "status": 0,
        }
        self.requests.append(record)
        response = self._answer(request.match_info["contact"], record)
        record["status"] = response.status
        return response

    def _answer(self, key: str, record: dict[str, Any]) -> web.Response:
        if record["headers"].get("authorization") != f"Bearer {self.token}":
            return self._error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if self._throttle:
            wait = self._throttle.pop(0)
            return self._error(
                429,
                "RATE_LIMITS",
                "You have reached your ten_secondly_rolling limit.",
                headers={
                    "Retry-After": str(wait),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                    "X-HubSpot-RateLimit-Max": "100",
                    "X-HubSpot-RateLimit-Remaining": "0",
                },
                errorType="RATE_LIMIT",
                policyName="TEN_SECONDLY_ROLLING",
            )
        try:
            body = json.loads(record["body"])
        except ValueError:
            return self._error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict) or not properties:
            return self._error(
                400,
                "VALIDATION_ERROR",
                "No properties found to update, please provide at least one.",
            )
        problems = (
            [
                {
                    "isValid": False,
                    "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                }
                for name in properties
                if name not in self.known_properties
            ]
            + [
                {
                    "isValid": False,
                    "message": f"{value!r} is not a valid string",
                    "error": "INVALID_STRING",
                    "name": name,
                }
                for name, value in properties.items()
                if not isinstance(value, str)
            ]
            + [
                {
                    "isValid": False,
                    "message": problem,
                    "error": "INVALID_DATE",
                    "name": name,
                }
                for name, value in properties.items()
                if name in self.date_properties
                and isinstance(value, str)
                and (problem := _date_problem(value)) is not None
            ]
        )
        if problems:
            return self._error(
                400,
                "VALIDATION_ERROR",
                f"Property values were not valid: {json.dumps(problems)}",
            )
        contact = self._find(key, record["query"].get("idProperty"))
        if contact is None:
            return self._error(404, "OBJECT_NOT_FOUND", "resource not found")
        contact.properties.update(properties)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return web.json_response(
            {
                "id": contact.id,
                "properties": {"hs_object_id": contact.id, **contact.properties},
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
            }
        )

    def _find(self, key: str, id_property: str | None) -> Contact | None:
        if id_property == "email":
            return next((c for c in self.contacts.values() if c.email == key), None)
        return self.contacts.get(key)


def _date_problem(value: str) -> str | None:
    """Why HubSpot refuses `value` for a date property, or None ("" clears it)."""
    if value == "":
        return None
    if value.isdigit():
        moment = datetime.fromtimestamp(int(value) / 1000, UTC)
        if moment != datetime.combine(moment.date(), datetime.min.time(), UTC):
            clock = moment - datetime.combine(moment.date(), datetime.min.time(), UTC)
            return f"{value} is at {_clock(clock)} UTC, not midnight!"
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not a valid date: use midnight UTC in milliseconds or YYYY-MM-DD"
    return None if len(value) == 10 else f"{value!r} is not a valid date"


def _stored_date(value: str) -> date:
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).date()
    return date.fromisoformat(value)


def _clock(since_midnight: timedelta) -> str:
    seconds = since_midnight.total_seconds()
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:06.3f}"
