"""The API docs, /docs (Swagger UI) and /redoc, with no request to any other host.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and ReDoc's fonts from Google
Fonts, so behind a firewall they are blank. The fastapi-offline wheel ships the same
bundles (Swagger UI 5, ReDoc 2; Apache-2.0 and MIT); they are served here from
`ASSETS_URL` and the pages built with FastAPI's `get_swagger_ui_html` / `get_redoc_html`
point there ("Self-hosting JavaScript and CSS for docs" in FastAPI's documentation).
`create_app` turns FastAPI's default docs routes off (`docs_url=None, redoc_url=None`).

Both pages carry a Content-Security-Policy that names this origin only, so the browser
does not even try another host: ReDoc's "API docs by Redocly" footer always asks
cdn.redoc.ly for its logo (no option turns it off); the policy refuses it and ReDoc
drops the image. Inline scripts are allowed by their hash, not wholesale.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
FAVICON_URL = "/desk/favicon.svg"
# Swagger UI would otherwise show a badge fetched from validator.swagger.io.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the bundled assets and the two pages on `app`."""
    app.mount(
        ASSETS_URL,
        StaticFiles(packages=[("fastapi_offline", "static")]),
        name="docs-assets",
    )
    app.include_router(router)


def _this_origin_only(page: HTMLResponse) -> HTMLResponse:
    """Add the policy to one of FastAPI's docs pages, hashing its inline scripts."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body))
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(request: Request) -> str:
    return f"{_root(request)}{request.app.openapi_url}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} · API docs",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{FAVICON_URL}",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    return _this_origin_only(page)


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} · API reference",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{FAVICON_URL}",
        with_google_fonts=False,
    )
    return _this_origin_only(page)
