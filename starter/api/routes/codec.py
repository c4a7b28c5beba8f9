"""The remote codec for the Temporal UI (and `temporal --codec-endpoint`): staff only.

History holds encrypted payloads; the UI shows them readable by POSTing them here, per
Temporal's codec-server protocol: `POST /codec/decode` and `POST /codec/encode` take and
answer `{"payloads": [{"metadata": {name: base64}, "data": base64}, …]}` (proto3 JSON of
`temporal.api.common.v1.Payloads`). The codec is the API client's own, so the endpoint
reads exactly what the workers write.

Who may call: any active staff token (front desk or manager — both already see clients'
details at the desk), sent as `Authorization: Bearer <token>`; or, for a browser whose
Temporal UI cannot send our token, an HttpOnly cookie set by `POST /codec/session`
(the page at `GET /codec` does that) with the UI's "include cross-origin credentials" on.
Browsers may call these routes only from PUNCHCARD_TEMPORAL_UI_ORIGIN (CORS, /codec only).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from pydantic import AfterValidator, BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from activities.repository import StaffMember
from starter.api.deps import Deps
from workers.codec import CodecError
from workers.settings import Settings

log = logging.getLogger("punchcard.api.codec")

PREFIX = "/codec"
COOKIE = "punchcard_codec"
COOKIE_SECONDS = 8 * 3600
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Namespace")

router = APIRouter(prefix=PREFIX, tags=["codec"])
_bearer = HTTPBearer(auto_error=False, description="a staff token from `punchcard staff add`")


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64 (proto3 JSON carries bytes as base64)") from None
    return value


Base64 = Annotated[str, AfterValidator(_base64)]


class CodecPayload(BaseModel):
    """One payload in proto3 JSON: metadata values and data are base64."""

    metadata: dict[str, Base64] = Field(default_factory=dict)
    data: Base64 = ""


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list)


class CodecSession(BaseModel):
    staff_id: str
    expires_in: int = Field(description="seconds")


async def codec_staff(
    deps: Deps,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)] = None,
) -> StaffMember:
    """A staff member, by bearer token or by the codec session cookie."""
    token = credentials.credentials if credentials is not None else cookie
    if not token:
        raise HTTPException(
            401,
            "missing staff token: send Authorization: Bearer <token> (punchcard staff add), "
            f"or sign this browser in at {PREFIX}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    member = await deps.staff.by_token(token)
    if member is None:
        raise HTTPException(
            401, "unknown or revoked staff token", headers={"WWW-Authenticate": "Bearer"}
        )
    return member


CodecStaff = Annotated[StaffMember, Depends(codec_staff)]

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "an unknown key id, or a payload that fails authentication"},
    401: {"description": "missing or unknown staff token"},
}


@router.post("/decode", responses=_ERRORS)
async def decode(
    body: CodecPayloads, request: Request, deps: Deps, member: CodecStaff
) -> CodecPayloads:
    """Decrypt payloads for the Temporal UI; unencrypted ones come back unchanged."""
    return await _apply("decode", body, request, deps, member)


@router.post("/encode", responses=_ERRORS)
async def encode(
    body: CodecPayloads, request: Request, deps: Deps, member: CodecStaff
) -> CodecPayloads:
    """Encrypt payloads the Temporal UI sends (e.g. a signal's input) under the current key."""
    return await _apply("encode", body, request, deps, member)


async def _apply(
    action: Literal["encode", "decode"],
    body: CodecPayloads,
    request: Request,
    deps: Deps,
    member: StaffMember,
) -> CodecPayloads:
    try:
        payloads = json_format.ParseDict(body.model_dump(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise HTTPException(400, f"not Temporal Payloads JSON: {err}") from None
    codec = deps.client.data_converter.payload_codec
    if codec is not None:
        try:
            if action == "decode":
                await codec.decode_wrapper(payloads)
            else:
                await codec.encode_wrapper(payloads)
        except CodecError as err:
            raise HTTPException(400, str(err)) from None
    log.info(
        "codec %s: %d payloads for staff %s (namespace %s)",
        action,
        len(payloads.payloads),
        member.staff_id,
        request.headers.get("x-namespace", "-"),
    )
    return CodecPayloads.model_validate(
        json_format.MessageToDict(payloads, preserving_proto_field_name=True)
    )


@router.post("/session", responses={401: _ERRORS[401]})
async def open_session(
    request: Request,
    member: CodecStaff,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """Let this browser's Temporal UI decode: an HttpOnly cookie scoped to /codec."""
    if credentials is None:
        raise HTTPException(401, "sign in with Authorization: Bearer <token>")
    response = JSONResponse(
        CodecSession(staff_id=member.staff_id, expires_in=COOKIE_SECONDS).model_dump()
    )
    response.set_cookie(
        COOKIE,
        credentials.credentials,
        max_age=COOKIE_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    log.info("codec session opened for staff %s", member.staff_id)
    return response


@router.delete("/session", status_code=204)
async def close_session() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("", include_in_schema=False)
async def sign_in_page(deps: Deps) -> HTMLResponse:
    """A page on the API's own origin that sets the codec cookie for this browser."""
    return HTMLResponse(_PAGE.replace("{origins}", ", ".join(ui_origins(deps.settings))))


def ui_origins(settings: Settings) -> list[str]:
    """PUNCHCARD_TEMPORAL_UI_ORIGIN: one origin, or several separated by commas."""
    return [o.strip().rstrip("/") for o in settings.temporal_ui_origin.split(",") if o.strip()]


class CodecCors:
    """CORS for /codec only, and only for the Temporal UI's origin(s).

    Other paths pass straight through; other origins get no Access-Control-Allow-Origin,
    so a browser refuses to send them (preflight) or to show them the answer.
    """

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self._app = app
        self._cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=list(ALLOWED_HEADERS),
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Punchcard · Temporal UI decoding</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
input{width:100%;padding:.5rem;margin:.5rem 0}button{padding:.5rem 1rem}</style></head>
<body><h1>Read encrypted history in the Temporal UI</h1>
<p>Punchcard encrypts workflow payloads. Sign this browser in with your staff token; then,
in the Temporal UI ({origins}), open the codec settings, set this page's address as the
codec endpoint and turn on <em>Include cross-origin credentials</em>.</p>
<form id="f"><label>Staff token <input id="t" type="password" autocomplete="off" required></label>
<button>Sign in</button> <button type="button" id="out">Sign out</button></form>
<p id="say" role="status"></p>
<script>
const say = (text) => { document.getElementById("say").textContent = text; };
document.getElementById("f").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("t").value.trim();
  const answer = await fetch("/codec/session", {method: "POST",
    headers: {Authorization: "Bearer " + token}});
  const body = await answer.json();
  say(answer.ok ? "Signed in as " + body.staff_id + " for 8 hours." : body.detail);
  document.getElementById("t").value = "";
});
document.getElementById("out").addEventListener("click", async () => {
  await fetch("/codec/session", {method: "DELETE"});
  say("Signed out.");
});
</script></body></html>
"""
