"""A local stand-in for Klaviyo's Create Event endpoint (`POST /api/events`).

It checks what Klaviyo checks that we can check offline: `Authorization: Klaviyo-API-Key
<private key>` (401 otherwise), a `revision` header (400 without), a JSON:API body
`{"data": {"type": "event", "attributes": {...}}}` with `properties` an object, a metric
name under 128 characters, and a profile with at least one identifier (`id`, `email`,
`phone_number`, `external_id`) and, when given, an E.164 phone number. Errors answer in
Klaviyo's JSON:API shape `{"errors": [{"id", "status", "code", "title", "detail",
"source"}]}`; success is 202 with no body. Like Klaviyo, an event repeating the
`unique_id` of a recorded one for the same profile and metric is accepted and dropped.
Tests script 429s with `Retry-After` ahead of time.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_IDENTIFIERS = ("id", "email", "phone_number", "external_id")


@dataclass
class RecordedEvent:
    metric: str
    unique_id: str | None
    profile: dict[str, Any]
    properties: dict[str, Any]
    time: str | None


@dataclass
class KlaviyoFake:
    private_key: str = "pk_test_0123456789abcdef"
    events: list[RecordedEvent] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _throttle: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def throttle_next(self, times: int, *, retry_after: int) -> None:
        """Answer the next `times` authorised requests 429 with this Retry-After."""
        self._throttle.extend([retry_after] * times)

    def of_metric(self, name: str) -> list[RecordedEvent]:
        return [e for e in self.events if e.metric == name]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/events", self._create)
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
        code: str,
        title: str,
        detail: str,
        pointer: str = "/data/",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        body = {
            "errors": [
                {
                    "id": str(uuid.uuid4()),
                    "status": status,
                    "code": code,
                    "title": title,
                    "detail": detail,
                    "source": {"pointer": pointer},
                }
            ]
        }
        return web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/vnd.api+json",
            headers=headers,
        )

    async def _create(self, request: web.Request) -> web.Response:
        record: dict[str, Any] = {
            "at": time.monotonic(),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": await request.text(),
            "status": 0,
        }
        self.requests.append(record)
        response = self._answer(record)
        record["status"] = response.status
        return response

    def _answer(self, record: dict[str, Any]) -> web.Response:
        headers = record["headers"]
        if headers.get("authorization") != f"Klaviyo-API-Key {self.private_key}":
            return self._error(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
            )
        if not headers.get("revision"):
            return self._error(
                400,
                "invalid",
                "Invalid input.",
                "The 'revision' header is required.",
                pointer="/headers/revision",
            )
        if self._throttle:
            wait = self._throttle.pop(0)
            return self._error(
                429,
                "throttled",
                "Request was throttled.",
                f"Request was throttled. Expected available in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        try:
            body = json.loads(record["body"])
        except ValueError:
            return self._error(400, "parse_error", "Malformed JSON.", "JSON parse error.")
        problem = _problem(body)
        if problem is not None:
            pointer, detail = problem
            return self._error(400, "invalid", "Invalid input.", detail, pointer=pointer)
        attributes = body["data"]["attributes"]
        profile = attributes["profile"]["data"]["attributes"]
        event = RecordedEvent(
            metric=attributes["metric"]["data"]["attributes"]["name"],
            unique_id=attributes.get("unique_id"),
            profile=profile,
            properties=attributes["properties"],
            time=attributes.get("time"),
        )
        if not self._duplicate(event):
            self.events.append(event)
        return web.Response(status=202)

    def _duplicate(self, event: RecordedEvent) -> bool:
        if event.unique_id is None:
            return False
        who = _identity(event.profile)
        return any(
            e.unique_id == event.unique_id
            and e.metric == event.metric
            and _identity(e.profile) == who
            for e in self.events
        )


def _identity(profile: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(profile.get(name) for name in _IDENTIFIERS)


def _problem(body: Any) -> tuple[str, str] | None:
    """Where the body breaks the documented schema, as (pointer, detail); None when fine."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("type") != "event":
        return "/data/type", "'data.type' must be 'event'."
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        return "/data/attributes", "'attributes' is required."
    if not isinstance(attributes.get("properties"), dict):
        return "/data/attributes/properties", "'properties' must be an object."
    metric = attributes.get("metric")
    metric_data = metric.get("data") if isinstance(metric, dict) else None
    if not isinstance(metric_data, dict) or metric_data.get("type") != "metric":
        return "/data/attributes/metric/data/type", "'metric.data.type' must be 'metric'."
    name = (metric_data.get("attributes") or {}).get("name")
    if not isinstance(name, str) or not name or len(name) >= 128:
        return "/data/attributes/metric/data/attributes/name", "A metric name is required."
    profile = attributes.get("profile")
    profile_data = profile.get("data") if isinstance(profile, dict) else None
    if not isinstance(profile_data, dict) or profile_data.get("type") != "profile":
        return "/data/attributes/profile/data/type", "'profile.data.type' must be 'profile'."
    fields = profile_data.get("attributes")
    if not isinstance(fields, dict) or not any(fields.get(name) for name in _IDENTIFIERS):
        return (
            "/data/attributes/profile/data/attributes",
            "One or more identifiers (id, email, phone_number, external_id) are required.",
        )
    phone = fields.get("phone_number")
    if phone is not None and not (isinstance(phone, str) and _E164.match(phone)):
        return (
            "/data/attributes/profile/data/attributes/phone_number",
            "Invalid phone number format (Example of a valid format: +12345678901)",
        )
    properties = fields.get("properties")
    if properties is not None and not isinstance(properties, dict):
        return "/data/attributes/profile/data/attributes/properties", "must be an object."
    return None
