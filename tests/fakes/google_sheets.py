"""A local stand-in for Google's OAuth 2.0 token endpoint and the Sheets API v4 calls the
report publisher makes:

    POST /token                                   JWT bearer grant (RFC 7523) of a service
                                                  account: the assertion's RS256 signature
                                                  is checked with the key's public half,
                                                  its iss, scope and aud (Google's token
                                                  URI, as Google requires) too
    GET  /v4/spreadsheets/{id}?fields=…           the tabs (sheets[].properties)
    POST /v4/spreadsheets/{id}:batchUpdate        addSheet requests (a taken title: 400)
    POST /v4/spreadsheets/{id}/values:batchUpdate valueInputOption required; data[].range in
                                                  A1 notation ('Tab'!A1)
    POST /v4/spreadsheets/{id}/values:batchClear  ranges ('Tab'!A5:ZZ)

Errors come in Google's shape, `{"error": {"code", "message", "status"}}`: 401
UNAUTHENTICATED without a live token, 404 NOT_FOUND for another spreadsheet, 400
INVALID_ARGUMENT for a range naming no tab. Tests may script failures (`fail_next`) and
expire every token issued so far (`expire_tokens`). The grid is kept per tab, so a test
reads the sheet as a dashboard would.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
# Google's token endpoint wants this audience in the assertion wherever it is posted
# (google-auth always writes it): a stand-in elsewhere checks the same value.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_RANGE = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!([A-Z]+)(\d+)(?::([A-Z]+)(\d*))?$")


def _error(status: int, google_status: str, message: str, **headers: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": google_status}}
    return web.json_response(body, status=status, headers=headers or None)


@dataclass
class GoogleSheetsFake:
    spreadsheet_id: str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
    client_email: str = "punchcard-reports@spa-project.iam.gserviceaccount.com"
    tabs: dict[str, list[list[Any]]] = field(default_factory=lambda: {"Sheet1": []})
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    base_url: str = ""
    _tokens: set[str] = field(default_factory=set)
    _failures: list[tuple[str, int, str | None]] = field(default_factory=list)
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    _key_id: str = field(default_factory=lambda: secrets.token_hex(20))
    _runner: web.AppRunner | None = None

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def write_key_file(self, path: Path) -> Path:
        """A service account key file as Google's console downloads it (its token_uri is
        Google's own: the publisher is pointed here by configuration)."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "spa-project",
                    "private_key_id": self._key_id,
                    "private_key": pem,
                    "client_email": self.client_email,
                    "client_id": "104242424242424242424",
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            )
        )
        return path

    def fail_next(self, call: str, status: int, *, retry_after: str | None = None) -> None:
        """Answer the next `call` ("get", "batchUpdate", "values:batchUpdate",
        "values:batchClear") with this status."""
        self._failures.append((call, status, retry_after))

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def calls(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["call"] == name and r["status"] == 200]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/token", self._token)
        sheet = "/v4/spreadsheets/{sid:[^/:]+}"
        app.router.add_get(sheet, self._get)
        app.router.add_post(sheet + ":batchUpdate", self._batch_update)
        app.router.add_post(sheet + "/values:batchUpdate", self._values_update)
        app.router.add_post(sheet + "/values:batchClear", self._values_clear)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the token endpoint -----------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        public = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                certs={self._key_id: public.decode()},
                audience=GOOGLE_TOKEN_AUDIENCE,
            )
        except ValueError as err:
            return web.json_response(
                {"error": "invalid_grant", "error_description": f"Invalid JWT: {err}"},
                status=400,
            )
        if claims.get("iss") != self.client_email or SCOPE not in str(claims.get("scope")):
            return web.json_response(
                {"error": "invalid_scope", "error_description": "Invalid OAuth scope."},
                status=400,
            )
        token = "ya29." + secrets.token_urlsafe(24)
        self._tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    # --- the Sheets API ----------------------------------------------------------------

    async def _record(self, request: web.Request, call: str) -> tuple[dict[str, Any], Any]:
        body = await request.json() if request.can_read_body else None
        record = {"call": call, "query": dict(request.query), "body": body, "status": 0}
        self.requests.append(record)
        return record, body

    def _refusal(self, request: web.Request, call: str) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return _error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        if request.match_info["sid"] != self.spreadsheet_id:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        for i, (name, status, retry_after) in enumerate(self._failures):
            if name == call:
                del self._failures[i]
                extra = {"Retry-After": retry_after} if retry_after else {}
                google = {403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}
                return _error(
                    status,
                    google.get(status, "UNAVAILABLE"),
                    "The caller does not have permission"
                    if status == 403
                    else "The service is currently unavailable.",
                    **extra,
                )
        return None

    async def _answer(self, request: web.Request, call: str, handler: Any) -> web.Response:
        record, body = await self._record(request, call)
        response = self._refusal(request, call) or handler(body)
        record["status"] = response.status
        return response

    def _properties(self) -> list[dict[str, Any]]:
        return [
            {
                "properties": {
                    "sheetId": i,
                    "title": title,
                    "index": i,
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": 1000, "columnCount": 26},
                }
            }
            for i, title in enumerate(self.tabs)
        ]

    async def _get(self, request: web.Request) -> web.Response:
        def answer(_: Any) -> web.Response:
            return web.json_response(
                {"spreadsheetId": self.spreadsheet_id, "sheets": self._properties()}
            )

        return await self._answer(request, "get", answer)

    async def _batch_update(self, request: web.Request) -> web.Response:
        def answer(body: dict[str, Any]) -> web.Response:
            replies = []
            for item in body.get("requests", []):
                title = item["addSheet"]["properties"]["title"]
                if title in self.tabs:
                    return _error(
                        400,
                        "INVALID_ARGUMENT",
                        f'Invalid requests[0].addSheet: A sheet with the name "{title}" '
                        "already exists. Please enter another name.",
                    )
                self.tabs[title] = []
                replies.append({"addSheet": {"properties": self._properties()[-1]["properties"]}})
            return web.json_response({"spreadsheetId": self.spreadsheet_id, "replies": replies})

        return await self._answer(request, "batchUpdate", answer)

    def _range(self, text: str) -> tuple[str, int] | None:
        """The tab and the first row (0-based) of an A1 range from column A, or None."""
        found = _RANGE.match(text)
        if found is None:
            return None
        title = (found[1] or "").replace("''", "'") or found[2]
        if title not in self.tabs or found[3] != "A":
            return None
        return title, int(found[4]) - 1

    async def _values_update(self, request: web.Request) -> web.Response:
        def answer(body: dict[str, Any]) -> web.Response:
            if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
                return _error(400, "INVALID_ARGUMENT", "Invalid valueInputOption: ''")
            responses = []
            for item in body.get("data", []):
                where = self._range(item["range"])
                if where is None:
                    return _error(
                        400, "INVALID_ARGUMENT", f"Unable to parse range: {item['range']}"
                    )
                title, first = where
                grid = self.tabs[title]
                for offset, row in enumerate(item["values"]):
                    while len(grid) <= first + offset:
                        grid.append([])
                    grid[first + offset] = list(row) + grid[first + offset][len(row) :]
                responses.append(
                    {
                        "spreadsheetId": self.spreadsheet_id,
                        "updatedRange": item["range"],
                        "updatedRows": len(item["values"]),
                    }
                )
            return web.json_response({"spreadsheetId": self.spreadsheet_id, "responses": responses})

        return await self._answer(request, "values:batchUpdate", answer)

    async def _values_clear(self, request: web.Request) -> web.Response:
        def answer(body: dict[str, Any]) -> web.Response:
            cleared = []
            for text in body.get("ranges", []):
                where = self._range(text)
                if where is None:
                    return _error(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
                title, first = where
                del self.tabs[title][first:]
                cleared.append(text)
            return web.json_response(
                {"spreadsheetId": self.spreadsheet_id, "clearedRanges": cleared}
            )

        return await self._answer(request, "values:batchClear", answer)
