"""A local stand-in for GoHighLevel's (LeadConnector) contact update (provider-formats.md §5.5).

    PUT /contacts/{contactId}
    Authorization: Bearer <token>
    Version: 2021-07-28
    {"customFields": [{"key": "...", "field_value": "..."}]}

It checks the bearer token (401), the required `Version` header (400 without it), and
that every custom field key exists in the location (422, the status GoHighLevel uses for
validation); an unknown contact is 404. A success answers `{"succeded": true, "contact":
{...}}` (GoHighLevel's own spelling, from third-party notes: the adapter reads nothing of it).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_ids = itertools.count(1)

DEFAULT_KEYS = (
    "contact.punchcard_sessions_remaining",
    "contact.punchcard_package_name",
    "contact.punchcard_package_expires",
    "contact.punchcard_last_session",
    "contact.punchcard_renewal_link",
    "contact.punchcard_package_status",
)


@dataclass
class GoHighLevelFake:
    token: str = "pit-test-token"
    location_id: str = "loc-test"
    field_keys: set[str] = field(default_factory=lambda: set(DEFAULT_KEYS))
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> key -> value
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def add_contact(self) -> str:
        contact_id = f"ghl{next(_ids):06d}"
        self.contacts[contact_id] = {}
        return contact_id

    async def start(self) -> None:
        app = web.Application()
        app.router.add_put("/contacts/{contact}", self._update)
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
    def _error(status: int, message: str | list[str]) -> web.Response:
        return web.json_response({"statusCode": status, "message": message}, status=status)

    async def _update(self, request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await request.text()
        self.requests.append({"path": request.path, "headers": headers, "body": body})
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._error(401, "Invalid JWT")
        if headers.get("version") != "2021-07-28":
            return self._error(400, "version header was not found")
        try:
            payload = json.loads(body)
        except ValueError:
            return self._error(400, "Unexpected token in JSON")
        entries = payload.get("customFields") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            return self._error(422, ["customFields must be an array"])
        problems = [
            f"customFields.{i} needs key and field_value"
            for i, entry in enumerate(entries)
            if not isinstance(entry, dict) or "key" not in entry or "field_value" not in entry
        ]
        unknown = [
            entry["key"]
            for entry in entries
            if isinstance(entry, dict) and entry.get("key") not in self.field_keys
        ]
        if problems or unknown:
            return self._error(422, problems + [f"custom field {key} not found" for key in unknown])
        contact = self.contacts.get(request.match_info["contact"])
        if contact is None:
            return self._error(404, "Contact not found")
        contact.update({entry["key"]: entry["field_value"] for entry in entries})
        return web.json_response(
            {
                "succeded": True,
                "contact": {
                    "id": request.match_info["contact"],
                    "locationId": self.location_id,
                    "customFields": [{"key": k, "value": v} for k, v in contact.items()],
                },
            }
        )
