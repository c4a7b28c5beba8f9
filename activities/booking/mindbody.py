"""Read appointments from the Mindbody Public API v6, turning its answers into typed failures.

Webhooks can arrive thin (a `.cancelled` with ids only), so the intake re-fetches the
appointment here; write-back reads a client and updates their staff notes
(`GET /client/clients`, `POST /client/updateclient`, which needs the staff token).
Temporal retries whatever is not marked non-retryable (`activities.provider_errors`)::

    ProviderError
    ├── type "MindbodyUnavailable", retryable    429, 408, 425, 5xx, network errors, bad
    │                                            JSON; a 429/503 waits for Retry-After
    └── type PROVIDER_REJECTED, non-retryable    any other 4xx (bad key, wrong site…)

Unconfirmed (provider-formats.md §4.1, §4.3): whether `Authorization` takes the bare staff
token or `Bearer <token>` (bare by default, `bearer=True` switches), and which dates
`staffappointments` searches when only `AppointmentIds` is given (its date window defaults
to today; pass `start_date`/`end_date` to widen it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from pydantic import SecretStr

from activities.provider_errors import (
    ProviderError,
    from_response,
    is_retryable_status,
    scrub,
    send,
    unavailable_type,
)
from workflows.policies import PROVIDER_REJECTED

PROVIDER = "Mindbody"
MINDBODY_UNAVAILABLE = unavailable_type(PROVIDER)
DEFAULT_BASE_URL = "https://api.mindbodyonline.com/public/v6"


class MindbodyApi:
    """The few Public API reads the intake needs, over a shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | SecretStr,
        staff_token: str | SecretStr | None = None,
        bearer: bool = False,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = _reveal(api_key)
        token = _reveal(staff_token) if staff_token is not None else None
        self._authorization = f"Bearer {token}" if token and bearer else token

    def _headers(self, site_id: str) -> dict[str, str]:
        headers = {
            "Api-Key": self._api_key,
            "SiteId": site_id,
            "Content-Type": "application/json",  # §4.1: sent on every call
            "Accept": "application/json",
        }
        if self._authorization:
            headers["Authorization"] = self._authorization
        return headers

    async def get_appointment(
        self,
        site_id: str,
        appointment_id: str,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
    ) -> dict[str, Any] | None:
        """The `Appointment` object with this id at this site, or None if Mindbody has none.

        Raises:
            ProviderError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        params = {"AppointmentIds": appointment_id}
        if start_date is not None:
            params["StartDate"] = start_date.isoformat()
        if end_date is not None:
            params["EndDate"] = end_date.isoformat()
        data = await self._get("/appointment/staffappointments", site_id, params)
        appointments = data.get("Appointments")
        if not isinstance(appointments, list):
            raise ProviderError(
                PROVIDER,
                "Mindbody staffappointments answered without an Appointments list",
                kind="unavailable",
            )
        for appointment in appointments:
            if isinstance(appointment, dict) and str(appointment.get("Id")) == appointment_id:
                return appointment
        return None

    async def get_client(self, site_id: str, client_id: str) -> dict[str, Any] | None:
        """The `Client` with this id at this site, or None if Mindbody has none.

        Raises:
            ProviderError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        data = await self._get("/client/clients", site_id, {"ClientIds": client_id})
        clients = data.get("Clients")
        if not isinstance(clients, list):
            raise ProviderError(
                PROVIDER, "Mindbody clients answered without a Clients list", kind="unavailable"
            )
        for client in clients:
            if isinstance(client, dict) and str(client.get("Id")) == client_id:
                return client
        return None

    async def update_client(
        self, site_id: str, client: dict[str, Any], *, cross_regional: bool = False
    ) -> dict[str, Any]:
        """`POST /client/updateclient`: only the fields in `client` change; `Id` names it.

        Raises:
            ProviderError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        body = {"Client": client, "CrossRegionalUpdate": cross_regional}
        return await self._request("POST", "/client/updateclient", site_id, json=body)

    async def checkout_shopping_cart(self, site_id: str, cart: dict[str, Any]) -> dict[str, Any]:
        """`POST /sale/checkoutshoppingcart`: sell the cart's items to `ClientId`, paid by
        `Payments`; answers `{"ShoppingCart": {"Id", "GrandTotal", …}, …}`. Staff token.

        Raises:
            ProviderError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        return await self._request("POST", "/sale/checkoutshoppingcart", site_id, json=cart)

    async def _get(self, path: str, site_id: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._request("GET", path, site_id, params=params)

    async def _request(
        self,
        method: str,
        path: str,
        site_id: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = await send(
            self._http,
            PROVIDER,
            method,
            self._base_url + path,
            params=params,
            json=json,
            headers=self._headers(site_id),
        )
        if not response.is_success:
            raise _error_for(response, path)
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(
                PROVIDER,
                f"Mindbody {path} answered {response.status_code} without a JSON object",
                kind="unavailable",
                http_status=response.status_code,
            )
        return data


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _error_for(response: httpx.Response, path: str) -> ProviderError:
    """Map an error answer (`{"Error": {"Message", "Code"}}`) to a typed failure: every
    refusal, bad credentials included, keeps the PROVIDER_REJECTED type callers match."""
    status = response.status_code
    code, message = _parse_error_body(response)
    text = scrub(f"{status} {code}: {message}")
    if is_retryable_status(status):
        return from_response(
            response, PROVIDER, message=scrub(f"{path} {code}: {message}"), code=code
        )
    return ProviderError(
        PROVIDER,
        f"Mindbody {path} answered {text}",
        kind="rejected",
        http_status=status,
        code=code,
        type=PROVIDER_REJECTED,
    )


def _parse_error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    error = data.get("Error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "NoErrorBody", response.reason_phrase or "no error body"
    code, message = error.get("Code"), error.get("Message")
    return (
        str(code) if code is not None else "NoCode",
        message if isinstance(message, str) else response.reason_phrase,
    )
