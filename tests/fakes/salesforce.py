"""A local stand-in for Salesforce's OAuth token endpoint and REST sObject writes.

    POST  /services/oauth2/token                          (client credentials flow)
    PATCH /services/data/vXX.X/sobjects/{Object}/{Id}                        update
    PATCH /services/data/vXX.X/sobjects/{Object}/{ExternalIdField}/{value}   upsert

What Salesforce checks that we can check offline: the form-encoded token request
(`grant_type=client_credentials`, the app's client id and secret; 400 `invalid_client`
otherwise; or `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an RS256
`assertion` verified against the app's certificate key, iss = client id, sub = the user,
aud = login.salesforce.com, not expired; 400 `invalid_grant` otherwise), `Authorization: Bearer <issued token>` (401 `[{"message": "Session expired or
invalid", "errorCode": "INVALID_SESSION_ID"}]` for a token never issued or expired with
`expire_tokens`), that every field exists on the object (400 INVALID_FIELD), that a date
field holds `YYYY-MM-DD` or null (400 JSON_PARSER_ERROR), that a new Contact has a
LastName (400 REQUIRED_FIELD_MISSING, fields ["LastName"]), that the external id field is
one (404 NOT_FOUND otherwise), and that the Id or external id is not in the body. Upsert
answers 201 `{"id", "success": true, "errors": [], "created": true}` for a new record and,
updating, 200 with `created: false` (API v46.0 and later) or 204 before; an update by Id
answers 204, 404 NOT_FOUND for no such record, and 300 for an external id on two records.
Scripted failures (`fail_next`): REQUEST_LIMIT_EXCEEDED (403), 429, 503, or a validation
rule's FIELD_CUSTOM_VALIDATION_EXCEPTION. Requests are recorded.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

_ids = itertools.count(1)

PUNCHCARD_FIELDS = (
    "Punchcard_Sessions_Remaining__c",
    "Punchcard_Package_Name__c",
    "Punchcard_Package_Expires__c",
    "Punchcard_Last_Session__c",
    "Punchcard_Renewal_Link__c",
    "Punchcard_Package_Status__c",
)
DATE_FIELDS = frozenset({"Punchcard_Package_Expires__c", "Punchcard_Last_Session__c"})
_VERSION = re.compile(r"^v(\d+)\.\d$")

LIMIT_EXCEEDED = (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
UNAVAILABLE = (503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
THROTTLED = (429, "REQUEST_LIMIT_EXCEEDED", "Too many requests")


@dataclass
class Record:
    id: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    status: int
    code: str
    message: str
    fields: list[str]
    headers: dict[str, str]


@dataclass
class SalesforceFake:
    client_id: str = "3MVG9-test-consumer-key"
    client_secret: str = "test-consumer-secret"
    jwt_public_key: str | None = None  # PEM: the certificate's key, for the JWT bearer flow
    jwt_username: str = "integration@spa.example"
    jwt_audience: str = "https://login.salesforce.com"
    object_name: str = "Contact"
    external_id_fields: frozenset[str] = frozenset({"Punchcard_Client_Id__c"})
    known_fields: set[str] = field(
        default_factory=lambda: {"FirstName", "LastName", "Email", *PUNCHCARD_FIELDS}
    )
    date_fields: frozenset[str] = DATE_FIELDS
    records: dict[str, Record] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)
    base_url: str = ""
    _valid_tokens: set[str] = field(default_factory=set)
    _failures: list[Failure] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    # --- set-up and inspection ----------------------------------------------------------

    def add_record(self, **fields: Any) -> str:
        record_id = f"003{next(_ids):015d}"
        self.records[record_id] = Record(record_id, dict(fields))
        return record_id

    def by_external_id(self, field_name: str, value: str) -> list[Record]:
        return [r for r in self.records.values() if r.fields.get(field_name) == value]

    def expire_tokens(self) -> None:
        """Every session issued so far times out (Salesforce's session timeout)."""
        self._valid_tokens.clear()

    def fail_next(
        self,
        times: int,
        failure: tuple[int, str, str],
        *,
        fields: list[str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` authorised writes with this (status, errorCode, message)."""
        status, code, message = failure
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures.extend([Failure(status, code, message, fields or [], headers)] * times)

    def writes(self) -> list[dict[str, Any]]:
        """The authorised record writes that changed something, in order."""
        return [r for r in self.requests if r["kind"] == "write" and r["status"] in (200, 201, 204)]

    def token_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["kind"] == "token"]

    # --- serving ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/services/oauth2/token", self._token)
        app.router.add_patch("/services/data/{version}/sobjects/{object}/{key}", self._update)
        app.router.add_patch(
            "/services/data/{version}/sobjects/{object}/{field}/{value}", self._upsert
        )
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        record = {"kind": "token", "form": dict(form), "status": 0}
        self.requests.append(record)
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._jwt_problem(str(form.get("assertion") or ""))
            response = (
                self._issue()
                if problem is None
                else web.json_response(
                    {"error": "invalid_grant", "error_description": problem}, status=400
                )
            )
        elif form.get("grant_type") != "client_credentials":
            response = web.json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status=400,
            )
        elif (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            response = web.json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status=400,
            )
        else:
            response = self._issue()
        record["status"] = response.status
        return response

    def _issue(self) -> web.Response:
        token = f"00D000000000001!{secrets.token_urlsafe(24)}"
        self._valid_tokens.add(token)
        self.tokens_issued.append(token)
        return web.json_response(
            {
                "access_token": token,
                "signature": secrets.token_urlsafe(32),
                "scope": "api",
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": "1767225600000",
            }
        )

    def _jwt_problem(self, assertion: str) -> str | None:
        """Why Salesforce refuses this assertion, or None (the words are Salesforce's)."""
        if self.jwt_public_key is None:
            return "invalid assertion"
        try:
            claims = google_jwt.decode(
                assertion, certs=self.jwt_public_key, audience=self.jwt_audience
            )
        except (ValueError, google_exceptions.GoogleAuthError):
            return "invalid assertion"
        if claims.get("iss") != self.client_id:
            return "invalid client credentials"
        if claims.get("sub") != self.jwt_username:
            return "user hasn't approved this consumer"
        return None

    async def _update(self, request: web.Request) -> web.Response:
        return await self._write(request, None, request.match_info["key"])

    async def _upsert(self, request: web.Request) -> web.Response:
        return await self._write(request, request.match_info["field"], request.match_info["value"])

    async def _write(self, request: web.Request, field_name: str | None, key: str) -> web.Response:
        record: dict[str, Any] = {
            "kind": "write",
            "path": request.path,
            "query": dict(request.query),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": await request.text(),
            "status": 0,
        }
        self.requests.append(record)
        response = self._answer(request.match_info, field_name, key, record)
        record["status"] = response.status
        return response

    @staticmethod
    def _error(
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        item: dict[str, Any] = {"message": message, "errorCode": code}
        if fields is not None:
            item["fields"] = fields
        return web.json_response([item], status=status, headers=headers)

    def _answer(
        self, match: Any, field_name: str | None, key: str, record: dict[str, Any]
    ) -> web.Response:
        auth = record["headers"].get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._valid_tokens:
            return self._error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self._failures:
            failure = self._failures.pop(0)
            return self._error(
                failure.status, failure.code, failure.message, failure.fields, failure.headers
            )
        version = _VERSION.match(match["version"])
        if version is None:
            return self._error(404, "NOT_FOUND", "The requested resource does not exist")
        if match["object"] != self.object_name:
            return self._error(
                404, "NOT_FOUND", f"The requested resource does not exist: {match['object']}"
            )
        if field_name is not None and field_name not in self.external_id_fields:
            return self._error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        try:
            body = json.loads(record["body"])
        except ValueError:
            return self._error(400, "JSON_PARSER_ERROR", "Unexpected character in the body")
        if not isinstance(body, dict):
            return self._error(400, "JSON_PARSER_ERROR", "Cannot deserialize the body")
        problem = self._problem(body, field_name)
        if problem is not None:
            return problem
        if field_name is None:
            found = self.records.get(key)
            if found is None:
                return self._error(404, "NOT_FOUND", "The requested resource does not exist")
            found.fields.update(body)
            return web.Response(status=204)
        matches = self.by_external_id(field_name, key)
        if len(matches) > 1:
            return web.json_response(
                [
                    f"/services/data/{match['version']}/sobjects/{self.object_name}/{r.id}"
                    for r in matches
                ],
                status=300,
            )
        if matches:
            matches[0].fields.update(body)
            if int(version.group(1)) < 46:
                return web.Response(status=204)
            return web.json_response(
                {"id": matches[0].id, "success": True, "errors": [], "created": False}
            )
        if self.object_name == "Contact" and not body.get("LastName"):
            return self._error(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LastName]",
                ["LastName"],
            )
        new_id = self.add_record(**body, **{field_name: key})
        return web.json_response(
            {"id": new_id, "success": True, "errors": [], "created": True}, status=201
        )

    def _problem(self, body: dict[str, Any], field_name: str | None) -> web.Response | None:
        for name in ("Id", *([field_name] if field_name else [])):
            if name in body:
                return self._error(
                    400,
                    "INVALID_FIELD",
                    f"Unable to create/update fields: {name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [name],
                )
        for name, value in body.items():
            if name not in self.known_fields:
                return self._error(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {self.object_name}",
                )
            if name in self.date_fields and value is not None and not _is_day(value):
                return self._error(
                    400,
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of date from VALUE_STRING value {value} "
                    "or request may be missing a required field",
                )
        return None


def _is_day(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
