"""The reports written to a Google Sheet (Sheets API v4, a service account), one tab per
report, replaced in place, so a Looker Studio dashboard (or anything else) over the sheet
stays live and never sees duplicated rows.

Per publication:
    GET  /v4/spreadsheets/{id}?fields=sheets.properties(sheetId,title)   the tabs there
    POST /v4/spreadsheets/{id}:batchUpdate  {"requests": [{"addSheet": …}]}   missing tabs
    POST /v4/spreadsheets/{id}/values:batchUpdate   every tab's rows from A1 (RAW)
    POST /v4/spreadsheets/{id}/values:batchClear    whatever lies below the new rows
Writing first and clearing below afterwards means a reader never meets an empty tab.

The access token comes from google-auth (`service_account.Credentials`, scope
spreadsheets); its refresh is a blocking call, so it runs in a thread, one at a time, and
only when the token is missing or about to expire. Its token URI is the key file's, or
`token_uri` (a stand-in in tests).

Failures (`activities.provider_errors`): 429/5xx and network trouble retry (type
"GoogleSheetsUnavailable", with Retry-After); 401/403 are BAD_CONFIGURATION (the sheet not
shared with the service account, the API not enabled); other 4xx "GoogleSheetsRejected".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

from activities.provider_errors import ProviderError, from_response, scrub, send
from activities.reports.tables import Table

PROVIDER = "GoogleSheets"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
_HINT = "share the sheet with the service account's email as an editor; enable the Sheets API"


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _TokenTransport(google.auth.transport.Request):
    """google-auth's transport over httpx (sync: it runs in a thread), so the token request
    needs no other HTTP library."""

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            with httpx.Client(timeout=timeout or 20.0) as client:
                return _Response(client.request(method, url, content=body, headers=headers))
        except httpx.HTTPError as err:
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                type(err).__name__
            ) from err


def load_credentials(
    key_file: Path, *, token_uri: str | None = None
) -> service_account.Credentials:
    """The service account of a JSON key file, scoped to spreadsheets."""
    credentials: service_account.Credentials = (
        service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(key_file), scopes=[SCOPE]
        )
    )
    if token_uri:
        credentials = credentials.with_token_uri(token_uri)
    return credentials


def _tab(title: str) -> str:
    """A tab's name in A1 notation: quoted, its quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


class SheetsPublisher:
    """Writes report tables to one spreadsheet. Constructed by the worker."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: service_account.Credentials,
        spreadsheet_id: str,
        base_url: str = "https://sheets.googleapis.com",
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._url = f"{base_url.rstrip('/')}/v4/spreadsheets/{quote(spreadsheet_id, safe='')}"
        self._refreshing = asyncio.Lock()

    async def publish(self, tables: Sequence[Table]) -> None:
        """Each table to its tab (added when missing), replacing what was there."""
        present = await self._tabs()
        missing = [t.title for t in tables if t.title not in present]
        if missing:
            await self._call(
                "POST",
                f"{self._url}:batchUpdate",
                {"requests": [{"addSheet": {"properties": {"title": t}}} for t in missing]},
            )
        await self._call(
            "POST",
            f"{self._url}/values:batchUpdate",
            {
                "valueInputOption": "RAW",
                "data": [
                    {"range": f"{_tab(t.title)}!A1", "majorDimension": "ROWS", "values": t.values()}
                    for t in tables
                ],
            },
        )
        await self._call(
            "POST",
            f"{self._url}/values:batchClear",
            {"ranges": [f"{_tab(t.title)}!A{len(t.rows) + 2}:ZZ" for t in tables]},
        )

    async def _tabs(self) -> set[str]:
        answer = await self._call(
            "GET", self._url, None, params={"fields": "sheets.properties(sheetId,title)"}
        )
        sheets = answer.get("sheets") or []
        return {s["properties"]["title"] for s in sheets if "properties" in s}

    async def _call(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        *,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {await self._token()}"}
        response = await send(
            self._http, PROVIDER, method, url, json=body, params=params, headers=headers
        )
        if response.status_code == 401:
            # Revoked or expired early: one fresh token, then the answer stands.
            headers["Authorization"] = f"Bearer {await self._token(force=True)}"
            response = await send(
                self._http, PROVIDER, method, url, json=body, params=params, headers=headers
            )
        if not response.is_success:
            raise from_response(response, PROVIDER, config_hint=_HINT)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as err:
            raise ProviderError(PROVIDER, "unreadable answer", kind="unavailable") from err
        return answer

    async def _token(self, *, force: bool = False) -> str:
        async with self._refreshing:
            if force or not self._credentials.valid:
                try:
                    await asyncio.to_thread(self._credentials.refresh, _TokenTransport())
                except google.auth.exceptions.TransportError as err:
                    raise ProviderError(
                        PROVIDER, f"token endpoint unreachable: {err}", kind="unavailable"
                    ) from err
                except google.auth.exceptions.RefreshError as err:
                    retryable = bool(getattr(err, "retryable", False))
                    raise ProviderError(
                        PROVIDER,
                        f"service account token refused: {scrub(str(err))}",
                        kind="unavailable" if retryable else "configuration",
                    ) from err
            token = self._credentials.token
            assert isinstance(token, str)
            return token
