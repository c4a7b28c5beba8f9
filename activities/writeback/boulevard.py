"""Boulevard's Admin GraphQL API, for the one mutation write-back needs: `createClientNote`.

    POST {base}/admin            (base: https://dashboard.boulevard.io/api/2020-01)
    Authorization: Basic base64("<api key>:<signed token>")
    {"query": "mutation …", "variables": {"input": {"clientId": "urn:blvd:Client:…", "text": …}}}

All of this is 🟡 in provider-formats.md §3 (public integration code, no official page in
the store): the endpoint, the signed-token auth (§3.2) and `createClientNote(input:
{clientId, text})`, which a third-party connector names. Its payload's fields are unknown,
so the mutation selects only `__typename`, valid on any object type.

GraphQL answers most errors with 200 and an `errors` list (`activities.provider_errors`)::

    ProviderError
    ├── type "BoulevardUnavailable", retryable   throttled (the message says how long to
    │                                             wait: next_retry_delay), 429, 5xx, network
    ├── type BAD_CONFIGURATION, non-retryable    401/403: key, secret or business id wrong
    └── type PROVIDER_REJECTED, non-retryable    any other error; `http_status` 404 in the
                                                  details when the client was not found
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from activities.provider_errors import ProviderError, raise_for_trouble, scrub, send
from workflows.policies import PROVIDER_REJECTED

DEFAULT_BASE_URL = "https://dashboard.boulevard.io/api/2020-01"
CLIENT_URN = "urn:blvd:Client:"
TOKEN_PREFIX = "blvd-admin-v1"
PROVIDER = "Boulevard"

CREATE_CLIENT_NOTE = """
mutation PunchcardClientNote($input: CreateClientNoteInput!) {
  createClientNote(input: $input) { __typename }
}
""".strip()

_THROTTLED = re.compile(r"throttl|rate limit|too many requests", re.IGNORECASE)
_NOT_FOUND = re.compile(r"not found|does not exist|no such", re.IGNORECASE)
_WAIT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)


def client_urn(external_id: str) -> str:
    """A Boulevard client id as the Admin API takes it: `urn:blvd:Client:<uuid>`."""
    return external_id if external_id.startswith(CLIENT_URN) else CLIENT_URN + external_id


def admin_authorization(
    api_key: str, api_secret: SecretStr, business_id: str, *, now: Callable[[], float] = time.time
) -> str:
    """HTTP Basic credentials for the Admin API: the API key, and a token made of the
    base64 HMAC-SHA256 (keyed with the base64-decoded secret) of
    "blvd-admin-v1" + business id + unix seconds, followed by that payload."""
    payload = f"{TOKEN_PREFIX}{business_id}{int(now())}"
    raw_key = base64.b64decode(api_secret.get_secret_value())
    signature = base64.b64encode(hmac.new(raw_key, payload.encode(), hashlib.sha256).digest())
    token = signature.decode() + payload
    return "Basic " + base64.b64encode(f"{api_key}:{token}".encode()).decode()


class BoulevardAdmin:
    """The Admin API over a shared `httpx.AsyncClient`; a freshly signed token per request."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        business_id: str,
        api_key: str,
        api_secret: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        try:
            base64.b64decode(api_secret.get_secret_value(), validate=True)
        except ValueError:
            # Every request would be refused; say so at start-up instead.
            raise ValueError(
                "PUNCHCARD_BOULEVARD_API_SECRET must be base64, as the dashboard shows it"
            ) from None
        self._http = http
        self._url = base_url.rstrip("/") + "/admin"
        self._business_id = business_id
        self._api_key = api_key
        self._secret = api_secret

    async def create_client_note(self, client_id: str, text: str) -> None:
        """Add a staff note to the client (`urn:blvd:Client:…`)."""
        await self.execute(CREATE_CLIENT_NOTE, {"input": {"clientId": client_id, "text": text}})

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one GraphQL operation; returns `data`, raising as the module docstring says."""
        headers = {
            "Authorization": admin_authorization(self._api_key, self._secret, self._business_id),
            "Accept": "application/json",
        }
        body = {"query": query, "variables": variables}
        response = await send(self._http, PROVIDER, "POST", self._url, headers=headers, json=body)
        raise_for_trouble(
            response,
            PROVIDER,
            config_hint="check PUNCHCARD_BOULEVARD_API_KEY, _API_SECRET and _BUSINESS_ID",
        )
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderError(
                PROVIDER,
                f"Boulevard answered {response.status_code} without a GraphQL body",
                kind="unavailable",
                http_status=response.status_code,
            )
        if answer.get("errors") or not response.is_success:
            raise _graphql_error(response.status_code, answer.get("errors"))
        data = answer.get("data")
        return data if isinstance(data, dict) else {}


def _graphql_error(status: int, errors: Any) -> ProviderError:
    messages = (
        [str(e["message"]) for e in errors if isinstance(e, dict) and e.get("message")]
        if isinstance(errors, list)
        else []
    )
    text = scrub("; ".join(messages) or f"HTTP {status} without an error message")
    if _THROTTLED.search(text):
        wait = _WAIT.search(text)
        return ProviderError(
            PROVIDER,
            f"Boulevard throttled the request: {text}",
            kind="unavailable",
            http_status=status,
            next_retry_delay=None if wait is None else timedelta(seconds=float(wait.group(1))),
        )
    return ProviderError(
        PROVIDER,
        f"Boulevard refused the request: {text}",
        kind="rejected",
        http_status=404 if _NOT_FOUND.search(text) else status,
        type=PROVIDER_REJECTED,
    )
