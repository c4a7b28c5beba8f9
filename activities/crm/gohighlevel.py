"""Write a client's package fields as custom fields of their GoHighLevel contact.

    PUT {base}/contacts/{contactId}
    Authorization: Bearer <private integration or OAuth token>
    Version: 2021-07-28
    {"customFields": [{"key": "contact.punchcard_sessions_remaining", "field_value": "2"}, ...]}

The contact id comes from a `client_links` row with platform `gohighlevel`; a client
without one is `not_linked` (no search by email: GoHighLevel's search API is documented
only by third parties, and a wrong match would write someone else's record). The custom
fields must exist in the location; their keys default to `contact.punchcard_<field>` and
are overridden by `PUNCHCARD_GOHIGHLEVEL_FIELD_KEYS` ("sessions_remaining=contact.pc_left").

Answers as HubSpot's: 2xx → updated; 404 → not_linked; 401/403 → BAD_CONFIGURATION;
429 → retryable after `Retry-After` (or `X-RateLimit-Interval-Milliseconds`); other 4xx
(400, 422) → rejected with GoHighLevel's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from activities.crm.base import FIELD_NAMES, CrmContact, CrmFields, answered
from activities.provider_errors import error_message, raise_for_trouble, send
from workflows.contracts import SyncTargetResult

DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"
API_VERSION = "2021-07-28"
PROVIDER = "GoHighLevel"
RATE_LIMIT_INTERVAL = "X-RateLimit-Interval-Milliseconds"
DEFAULT_FIELD_KEYS: Mapping[str, str] = {name: f"contact.punchcard_{name}" for name in FIELD_NAMES}


def parse_field_keys(text: str) -> dict[str, str]:
    """The field → custom field key table: defaults, overridden by "name=key, …".

    Raises:
        ValueError: an entry without `=`, an empty key, or a field Punchcard does not write.
    """
    keys = dict(DEFAULT_FIELD_KEYS)
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, key = (part.strip() for part in entry.partition("="))
        if not sep or not key:
            raise ValueError(f"GoHighLevel field key entry {entry!r} is not name=key")
        if name not in keys:
            raise ValueError(
                f"GoHighLevel field {name!r} is not one Punchcard writes "
                f"(use one of {', '.join(FIELD_NAMES)})"
            )
        keys[name] = key
    return keys


class GoHighLevelCrm:
    """The GoHighLevel (LeadConnector) adapter: one PUT per push."""

    name = "gohighlevel"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        field_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/contacts/"
        self._headers = {
            "Authorization": f"Bearer {token.get_secret_value()}",
            "Version": API_VERSION,
            "Accept": "application/json",
        }
        self._keys = dict(field_keys or DEFAULT_FIELD_KEYS)

    def custom_fields(self, fields: CrmFields) -> list[dict[str, str]]:
        """The request's `customFields`, in the order Punchcard defines its fields."""
        values = fields.as_dict()
        return [{"key": self._keys[name], "field_value": values[name]} for name in FIELD_NAMES]

    async def push(self, contact: CrmContact, fields: CrmFields) -> SyncTargetResult:
        """PUT the custom fields on the linked contact; see the module docstring."""
        if not contact.crm_id:
            return answered(
                self.name,
                "not_linked",
                "client has no GoHighLevel contact id (client_links platform 'gohighlevel')",
            )
        response = await send(
            self._http,
            PROVIDER,
            "PUT",
            self._url + quote(contact.crm_id, safe=""),
            headers=self._headers,
            json={"customFields": self.custom_fields(fields)},
        )
        if response.is_success:
            return answered(self.name, "updated", f"GoHighLevel contact {contact.crm_id}")
        if response.status_code == 404:
            return answered(
                self.name,
                "not_linked",
                f"GoHighLevel has no contact {contact.crm_id}: fix the client's gohighlevel link",
            )
        raise_for_trouble(
            response,
            PROVIDER,
            window_headers=(RATE_LIMIT_INTERVAL,),
            config_hint="check PUNCHCARD_GOHIGHLEVEL_TOKEN and its contacts.write scope",
        )
        return answered(
            self.name,
            "rejected",
            f"GoHighLevel refused the update ({response.status_code}): "
            f"{error_message(response)} (the custom fields "
            f"{', '.join(sorted(self._keys.values()))} must exist in the location)",
        )
