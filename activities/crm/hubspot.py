"""Write a client's package fields on their HubSpot contact (CRM v3 objects API).

    PATCH {base}/crm/v3/objects/contacts/{contactId}
    PATCH {base}/crm/v3/objects/contacts/{email}?idProperty=email
    Authorization: Bearer <private-app or OAuth token>
    {"properties": {"punchcard_sessions_remaining": "2", ...}}

The contact is addressed by its HubSpot id when the client has a `client_links` row with
platform `hubspot`, else by the client's email. Every value is a string and "" clears a
property. The two dates (`package_expires`, the good-through day, and `last_session`) are
sent the way HubSpot date properties take them: midnight UTC of the day, as epoch
milliseconds (2027-04-30 → "1809043200000"). The `punchcard_*` properties must exist
first (HubSpot answers 400 otherwise): create them under Settings → Properties, or with
the Properties API.

Answers: 2xx → updated; 404 → not_linked (no such contact); 401/403 → BAD_CONFIGURATION;
429 → retryable after `Retry-After` (or `X-HubSpot-RateLimit-Interval-Milliseconds`);
other 4xx → rejected with HubSpot's message (and which properties are missing).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from activities.crm.base import CrmContact, CrmFields, answered
from activities.provider_errors import error_message, raise_for_trouble, send
from workflows.contracts import SyncTargetResult

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_PREFIX = "punchcard_"
PROVIDER = "HubSpot"
RATE_LIMIT_INTERVAL = "X-HubSpot-RateLimit-Interval-Milliseconds"
DATE_FIELDS = frozenset({"package_expires", "last_session"})

# HubSpot nests a JSON list in `message`, so quotes arrive escaped once or twice.
_MISSING_PROPERTY = re.compile(r'Property \\*"([^"\\]+)\\*" does not exist')


class HubSpotCrm:
    """The HubSpot adapter: one PATCH per push, over a shared `httpx.AsyncClient`."""

    name = "hubspot"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        property_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/crm/v3/objects/contacts/"
        self._headers = {
            "Authorization": f"Bearer {token.get_secret_value()}",
            "Accept": "application/json",
        }
        self._prefix = property_prefix

    def properties(self, fields: CrmFields) -> dict[str, str]:
        """The request's `properties`: our field names behind the configured prefix, the
        dates encoded as HubSpot date properties want them."""
        return {
            self._prefix + name: date_property(value) if name in DATE_FIELDS else value
            for name, value in fields.as_dict().items()
        }

    async def push(self, contact: CrmContact, fields: CrmFields) -> SyncTargetResult:
        """PATCH the contact by id, or by email; see the module docstring for the answers."""
        if contact.crm_id:
            url, params, by = self._url + quote(contact.crm_id, safe=""), None, "id"
        elif contact.email:
            url, params, by = (
                self._url + quote(contact.email, safe=""),
                {"idProperty": "email"},
                "email",
            )
        else:
            return answered(
                self.name,
                "not_linked",
                "client has no HubSpot contact id (client_links platform 'hubspot') and no email",
            )
        response = await send(
            self._http,
            PROVIDER,
            "PATCH",
            url,
            params=params,
            headers=self._headers,
            json={"properties": self.properties(fields)},
        )
        if response.is_success:
            return answered(self.name, "updated", f"HubSpot contact {_contact_id(response)}")
        if response.status_code == 404:
            if by == "id":
                return answered(
                    self.name,
                    "not_linked",
                    f"HubSpot has no contact {contact.crm_id} (deleted or merged?): "
                    "fix the client's hubspot link",
                )
            return answered(
                self.name,
                "not_linked",
                "no HubSpot contact has the client's email: the contact does not exist in "
                "HubSpot (create it, or link the client to its contact id)",
            )
        raise_for_trouble(
            response,
            PROVIDER,
            window_headers=(RATE_LIMIT_INTERVAL,),
            config_hint="check PUNCHCARD_HUBSPOT_TOKEN and its crm.objects.contacts.write scope",
        )
        return answered(self.name, "rejected", self._rejection(response))

    def _rejection(self, response: httpx.Response) -> str:
        message = error_message(response)
        missing = sorted(set(_MISSING_PROPERTY.findall(response.text)))
        text = f"HubSpot refused the update ({response.status_code}): {message}"
        if missing:
            text = (
                f"HubSpot has no contact properties {', '.join(missing)}: create the "
                f"{self._prefix}* contact properties first ({response.status_code})"
            )
        return text


def date_property(day: str) -> str:
    """A `YYYY-MM-DD` day as a HubSpot date property value: midnight UTC of that date in
    epoch milliseconds (HubSpot refuses any other time of day); "" stays "" (clears)."""
    if not day:
        return ""
    midnight = datetime.combine(date.fromisoformat(day), time(0), tzinfo=UTC)
    return str(int(midnight.timestamp()) * 1000)


def _contact_id(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return "(no id in answer)"
    found = body.get("id") if isinstance(body, dict) else None
    return str(found) if found is not None else "(no id in answer)"
