"""Read appointments from the Mindbody Public API v6, turning its answers into typed failures.

Webhooks can arrive thin (a `.cancelled` with ids only), so the intake re-fetches the
appointment here; write-back reads a client and updates their staff notes
(`GET /client/clients`, `POST /client/updateclient`, which needs the staff token).
Temporal retries whatever is not marked non-retryable::

    ApplicationError
    ├── type "MindbodyUnavailable", retryable    429, 408, 5xx, network errors, bad JSON
    └── type PROVIDER_REJECTED, non-retryable    any other 4xx (bad key, wrong site…)

Unconfirmed (provider-formats.md §4.1, §4.3): whether `Authorization` takes the bare staff
token or `Bearer <token>` (bare by default, `bearer=True` switches), and which dates
`staffappointments` searches when only `AppointmentIds` is given (its date window defaults
to today; pass `start_date`/`end_date` to widen it).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from workflows.policies import PROVIDER_REJECTED

MINDBODY_UNAVAILABLE = "MindbodyUnavailable"
DEFAULT_BASE_URL = "https://api.mindbodyonline.com/public/v6"

_RETRYABLE_STATUSES = frozenset({408, 429})


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
            ApplicationError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        params = {"AppointmentIds": appointment_id}
        if start_date is not None:
            params["StartDate"] = start_date.isoformat()
        if end_date is not None:
            params["EndDate"] = end_date.isoformat()
        data = await self._get("/appointment/staffappointments", site_id, params)
        appointments = data.get("Appointments")
        if not isinstance(appointments, list):
            raise ApplicationError(
                "Mindbody staffappointments answered without an Appointments list",
                type=MINDBODY_UNAVAILABLE,
                non_retryable=False,
            )
        for appointment in appointments:
            if isinstance(appointment, dict) and str(appointment.get("Id")) == appointment_id:
                return appointment
        return None

    async def get_client(self, site_id: str, client_id: str) -> dict[str, Any] | None:
        """The `Client` with this id at this site, or None if Mindbody has none.

        Raises:
            ApplicationError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        data = await self._get("/client/clients", site_id, {"ClientIds": client_id})
        clients = data.get("Clients")
        if not isinstance(clients, list):
            raise ApplicationError(
                "Mindbody clients answered without a Clients list",
                type=MINDBODY_UNAVAILABLE,
                non_retryable=False,
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
            ApplicationError: retryable for transient trouble, PROVIDER_REJECTED otherwise.
        """
        body = {"Client": client, "CrossRegionalUpdate": cross_regional}
        return await self._request("POST", "/client/updateclient", site_id, json=body)

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
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                params=params,
                json=json,
                headers=self._headers(site_id),
            )
        except httpx.RequestError as err:
            raise ApplicationError(
                f"Mindbody unreachable: {type(err).__name__}",
                type=MINDBODY_UNAVAILABLE,
                non_retryable=False,
            ) from err
        if not response.is_success:
            raise _error_for(response, path)
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApplicationError(
                f"Mindbody {path} answered {response.status_code} without a JSON object",
                type=MINDBODY_UNAVAILABLE,
                non_retryable=False,
            )
        return data


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _error_for(response: httpx.Response, path: str) -> ApplicationError:
    """Map an error answer (`{"Error": {"Message", "Code"}}`) to a typed failure."""
    status = response.status_code
    code, message = _parse_error_body(response)
    text = f"Mindbody {path} answered {status} {code}: {message}"
    if status in _RETRYABLE_STATUSES or status >= 500:
        return ApplicationError(
            text,
            {"http_status": status, "code": code},
            type=MINDBODY_UNAVAILABLE,
            non_retryable=False,
            next_retry_delay=_retry_after(response),
        )
    return ApplicationError(
        text, {"http_status": status, "code": code}, type=PROVIDER_REJECTED, non_retryable=True
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


def _retry_after(response: httpx.Response) -> timedelta | None:
    """Honour a 429's Retry-After (seconds) so retries do not spend the daily quota faster."""
    value = response.headers.get("Retry-After", "")
    return timedelta(seconds=int(value)) if value.isdigit() else None
