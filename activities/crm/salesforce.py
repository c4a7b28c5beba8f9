"""Write a client's package fields on their Salesforce record (REST API, upsert by external id).

    POST {login}/services/oauth2/token              grant_type=client_credentials,
                                                    client_id, client_secret (form body)
      → {"access_token": "...", "instance_url": "https://acme.my.salesforce.com", ...}
    PATCH {instance}/services/data/v62.0/sobjects/Contact/{Id}                  (linked)
    PATCH {instance}/services/data/v62.0/sobjects/Contact/Punchcard_Client_Id__c/{client_id}
    Authorization: Bearer <access_token>
    {"Punchcard_Sessions_Remaining__c": 2, "Punchcard_Package_Expires__c": "2027-04-30", ...}

The token (OAuth 2.0 client credentials flow of a connected / external client app, run as
its "run as" user; `login` is the org's My Domain URL; or, given a private key, the JWT
bearer flow: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an RS256
assertion {iss: client id, sub: username, aud: login.salesforce.com, exp: +3 min} signed
by google-auth's signer, the app holding the certificate) is cached in the adapter and shared
by every push; it is fetched again when Salesforce answers 401 INVALID_SESSION_ID (the
session timed out: the request is then sent once more) or when `expires_in`, if given, has
passed. The record is the one linked to the client (`client_links` platform `salesforce`,
the record Id), else the one whose external id field holds the Punchcard client id: upsert,
which creates it when none does (201; a Contact needs a LastName, so a creation Salesforce
refuses with REQUIRED_FIELD_MISSING is sent once more with the client's name and email).
Object, external id field, field API names and API version are configurable. Values: the
remaining sessions (or dollars) as a number, the two dates as `YYYY-MM-DD`, the rest as
text; an empty value is sent as null, which clears the field.

Answers: 200/201/204 → updated; 404 on a linked Id → not_linked; 401 twice, or a token
refused → BAD_CONFIGURATION; 403 REQUEST_LIMIT_EXCEEDED, 429 and 5xx → retryable (after
`Retry-After` when given); other 4xx (INVALID_FIELD, FIELD_CUSTOM_VALIDATION_EXCEPTION,
300 for an external id on several records, …) → rejected with Salesforce's errorCode,
message and fields, recorded in integration_syncs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from google.auth import crypt
from google.auth import jwt as google_jwt
from pydantic import SecretStr

from activities.crm.base import FIELD_NAMES, CrmContact, CrmFields, answered
from activities.provider_errors import (
    ProviderError,
    from_response,
    is_retryable_status,
    retry_after,
    scrub,
    send,
)
from workflows.contracts import SyncTargetResult

PROVIDER = "Salesforce"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "v62.0"
DEFAULT_OBJECT = "Contact"
DEFAULT_EXTERNAL_ID_FIELD = "Punchcard_Client_Id__c"
DEFAULT_FIELD_NAMES: Mapping[str, str] = {
    name: "Punchcard_" + "_".join(part.capitalize() for part in name.split("_")) + "__c"
    for name in FIELD_NAMES
}
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_JWT_AUDIENCE = "https://login.salesforce.com"
JWT_LIFETIME_SECONDS = 180  # Salesforce takes an assertion that expires within 3 minutes
DATE_FIELDS = frozenset({"package_expires", "last_session"})
NUMBER_FIELDS = frozenset({"sessions_remaining"})
RETRYABLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
CONFIG_HINT = (
    "check PUNCHCARD_SALESFORCE_CLIENT_ID and _CLIENT_SECRET (or _PRIVATE_KEY and _USERNAME), "
    "the app's OAuth flow and its user's access to the object and fields"
)


def parse_field_names(text: str) -> dict[str, str]:
    """The field → Salesforce field API name table: defaults, overridden by "name=Api__c, …".

    Raises:
        ValueError: an entry without `=`, an empty name, or a field Punchcard does not write.
    """
    names = dict(DEFAULT_FIELD_NAMES)
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, api_name = (part.strip() for part in entry.partition("="))
        if not sep or not api_name:
            raise ValueError(f"Salesforce field entry {entry!r} is not name=ApiName__c")
        if name not in names:
            raise ValueError(
                f"Salesforce field {name!r} is not one Punchcard writes "
                f"(use one of {', '.join(FIELD_NAMES)})"
            )
        names[name] = api_name
    return names


@dataclass(frozen=True)
class JwtBearer:
    """The JWT bearer flow's own settings: the user the app acts as, and its signing key."""

    username: str
    private_key: SecretStr  # PEM
    audience: str = DEFAULT_JWT_AUDIENCE

    def assertion(self, client_id: str, now: float) -> str:
        # google-auth's signer: no hand-made JWT crypto (its functions carry no annotations).
        signer = crypt.RSASigner.from_string(self.private_key.get_secret_value())  # type: ignore[no-untyped-call]
        claims = {
            "iss": client_id,
            "sub": self.username,
            "aud": self.audience,
            "iat": int(now),  # not required by Salesforce; standard, and verifiers expect it
            "exp": int(now) + JWT_LIFETIME_SECONDS,
        }
        token: bytes = google_jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
        return token.decode("ascii")


@dataclass(frozen=True)
class _Token:
    value: str
    instance_url: str
    expires_at: float | None  # monotonic seconds; None: until Salesforce refuses it


class SalesforceCrm:
    """The Salesforce adapter: one PATCH per push, with a cached OAuth token."""

    name = "salesforce"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: SecretStr,
        client_secret: SecretStr | None = None,
        jwt_bearer: JwtBearer | None = None,
        login_url: str = DEFAULT_LOGIN_URL,
        instance_url: str = "",
        api_version: str = DEFAULT_API_VERSION,
        sobject: str = DEFAULT_OBJECT,
        external_id_field: str = DEFAULT_EXTERNAL_ID_FIELD,
        field_names: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self._client_id = client_id
        if client_secret is None and jwt_bearer is None:
            raise ValueError("Salesforce needs a client secret or a JWT bearer private key")
        self._client_secret = client_secret
        self._jwt = jwt_bearer
        self._token_url = login_url.rstrip("/") + "/services/oauth2/token"
        self._instance_url = instance_url.rstrip("/")
        version = api_version if api_version.startswith("v") else f"v{api_version}"
        self._path = f"/services/data/{version}/sobjects/{quote(sobject, safe='')}/"
        self._object = sobject
        self._external_id = external_id_field
        self._names = dict(field_names or DEFAULT_FIELD_NAMES)
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    def record(self, fields: CrmFields) -> dict[str, Any]:
        """The request body: field API names to Salesforce-typed values (null clears)."""
        body: dict[str, Any] = {}
        for name, value in fields.as_dict().items():
            body[self._names[name]] = _typed(name, value)
        return body

    async def push(self, contact: CrmContact, fields: CrmFields) -> SyncTargetResult:
        """PATCH the linked record, else upsert by external id; see the module docstring."""
        body = self.record(fields)
        if contact.crm_id:
            path = self._path + quote(contact.crm_id, safe="")
        else:
            path = (
                self._path
                + quote(self._external_id, safe="")
                + "/"
                + quote(contact.client_id, safe="")
            )
        response = await self._patch(path, body)
        if not contact.crm_id and _missing_required(response):
            response = await self._patch(path, body | self._creation_fields(contact))
        if response.is_success:
            return answered(self.name, "updated", self._success(contact, response))
        if response.status_code == 404 and contact.crm_id:
            return answered(
                self.name,
                "not_linked",
                f"Salesforce has no {self._object} {contact.crm_id} (deleted or merged?): "
                "fix the client's salesforce link",
            )
        code, words = _errors(response)
        if (
            is_retryable_status(response.status_code)
            or code in RETRYABLE_CODES
            or response.status_code in (401, 403)
        ):
            raise self._trouble(response, code, words)
        if response.status_code == 300:
            words = (
                f"more than one {self._object} has {self._external_id} = {contact.client_id}: "
                "merge them, or link the client to one (client_links platform 'salesforce')"
            )
        return answered(
            self.name,
            "rejected",
            f"Salesforce refused the update ({response.status_code} {code or 'no code'}): {words}",
        )

    # --- requests -----------------------------------------------------------------------

    async def _patch(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """One PATCH with the cached token; a session Salesforce says expired is renewed
        and the request sent once more."""
        token = await self._current_token()
        response = await self._send_patch(token, path, body)
        if response.status_code == 401:
            token = await self._renew(token)
            response = await self._send_patch(token, path, body)
        return response

    async def _send_patch(self, token: _Token, path: str, body: dict[str, Any]) -> httpx.Response:
        return await send(
            self._http,
            PROVIDER,
            "PATCH",
            (self._instance_url or token.instance_url) + path,
            headers={
                "Authorization": f"Bearer {token.value}",
                "Accept": "application/json",
            },
            json=body,
        )

    async def _current_token(self) -> _Token:
        token = self._token
        if token is not None and (token.expires_at is None or token.expires_at > time.monotonic()):
            return token
        return await self._renew(token)

    async def _renew(self, stale: _Token | None) -> _Token:
        """A fresh token, fetched once however many pushes found the old one stale."""
        async with self._lock:
            if self._token is not None and self._token is not stale:
                return self._token
            self._token = await self._fetch_token()
            return self._token

    def _grant(self) -> dict[str, str]:
        client_id = self._client_id.get_secret_value()
        if self._jwt is not None:
            try:
                assertion = self._jwt.assertion(client_id, time.time())
            except ValueError as err:
                raise ProviderError(
                    PROVIDER,
                    f"PUNCHCARD_SALESFORCE_PRIVATE_KEY is not a PEM RSA private key ({err})",
                    kind="configuration",
                ) from None
            return {"grant_type": JWT_GRANT, "assertion": assertion}
        assert self._client_secret is not None
        return {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }

    async def _fetch_token(self) -> _Token:
        response = await send(
            self._http,
            PROVIDER,
            "POST",
            self._token_url,
            data=self._grant(),
            headers={"Accept": "application/json"},
        )
        if not response.is_success:
            body = _json(response)
            code = body.get("error") if isinstance(body, dict) else None
            words = body.get("error_description") if isinstance(body, dict) else None
            message = scrub(f"{code or response.status_code}: {words or response.text[:200]}")
            if is_retryable_status(response.status_code):
                raise from_response(response, PROVIDER, message=message, code=code)
            raise ProviderError(
                PROVIDER,
                f"Salesforce refused the token request ({response.status_code}): {message} "
                f"({CONFIG_HINT})",
                kind="configuration",
                http_status=response.status_code,
                code=code,
            )
        body = _json(response)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise ProviderError(
                PROVIDER, "Salesforce's token answer had no access_token", kind="unavailable"
            )
        instance = str(body.get("instance_url") or "").rstrip("/")
        if not (self._instance_url or instance):
            raise ProviderError(
                PROVIDER,
                "Salesforce's token answer had no instance_url: set PUNCHCARD_SALESFORCE_INSTANCE_URL",
                kind="configuration",
            )
        lifetime = body.get("expires_in")
        expires = (
            time.monotonic() + max(0, int(lifetime) - 30)
            if isinstance(lifetime, int | str) and str(lifetime).isdigit()
            else None
        )
        return _Token(value, instance, expires)

    # --- answers ------------------------------------------------------------------------

    def _creation_fields(self, contact: CrmContact) -> dict[str, Any]:
        """What a new Contact (or Lead) needs besides our fields: the client's name."""
        first, _, last = (contact.name or "").strip().rpartition(" ")
        fields: dict[str, Any] = {"LastName": last or contact.client_id}
        if first:
            fields["FirstName"] = first
        if contact.email:
            fields["Email"] = contact.email
        return fields

    def _success(self, contact: CrmContact, response: httpx.Response) -> str:
        body = _json(response)
        record = body.get("id") if isinstance(body, dict) else None
        record = record or contact.crm_id or f"{self._external_id}={contact.client_id}"
        verb = "created" if response.status_code == 201 else "updated"
        return f"Salesforce {self._object} {record} {verb}"

    def _trouble(self, response: httpx.Response, code: str | None, words: str) -> ProviderError:
        status = response.status_code
        if code in RETRYABLE_CODES:
            return ProviderError(
                PROVIDER,
                f"Salesforce answered {status} {code}: {words}",
                kind="unavailable",
                http_status=status,
                code=code,
                next_retry_delay=retry_after(response),
            )
        return from_response(
            response,
            PROVIDER,
            message=f"{code}: {words}" if code else words,
            code=code,
            config_hint=CONFIG_HINT,
        )


def _typed(name: str, value: str) -> Any:
    if value == "":
        return None
    if name in NUMBER_FIELDS:
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    return value


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _errors(response: httpx.Response) -> tuple[str | None, str]:
    """Salesforce's first errorCode and every message (with the fields named), scrubbed."""
    body = _json(response)
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    items = [item for item in items if isinstance(item, dict)]
    code = next((str(item["errorCode"]) for item in items if item.get("errorCode")), None)
    parts = []
    for item in items:
        text = str(item.get("message") or item.get("errorCode") or "")
        fields = item.get("fields")
        if isinstance(fields, list) and fields:
            text += f" (fields: {', '.join(str(f) for f in fields)})"
        if text:
            parts.append(text)
    words = "; ".join(parts) or response.text.strip()[:200] or response.reason_phrase
    return code, scrub(words)


def _missing_required(response: httpx.Response) -> bool:
    """An upsert that would create a record Salesforce cannot create without a name."""
    if response.status_code != 400:
        return False
    body = _json(response)
    return isinstance(body, list) and any(
        isinstance(item, dict)
        and item.get("errorCode") == "REQUIRED_FIELD_MISSING"
        and "LastName" in (item.get("fields") or [])
        for item in body
    )
