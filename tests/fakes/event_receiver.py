"""A subscriber to Punchcard's lifecycle webhooks, as a spa's own system would run one.

It checks `Punchcard-Signature` by the documented recipe, written out here rather than
imported, so a bug in the publisher's signing cannot hide behind the same bug in a shared
verifier: hex HMAC-SHA256 of `f"{t}.{raw body}"` keyed by the secret's UTF-8 bytes, any
`v1=` may match, `t` within five minutes. A bad signature gets 400 and is not recorded as
an event. Tests script failures: `fail_next(2)` answers the next two signed deliveries
with 503 (or another status).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOLERANCE = 300


@dataclass
class Delivery:
    """One POST as received, whatever was answered."""

    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    answered: int


@dataclass
class EventReceiver:
    secret: str = "whsec_punchcard_events_test"
    deliveries: list[Delivery] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # signed and answered 2xx
    base_url: str = ""
    _failures: list[tuple[int, int | None]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/punchcard"

    def fail_next(self, times: int, *, status: int = 503, retry_after: int | None = None) -> None:
        """Answer the next `times` correctly signed deliveries with `status`."""
        self._failures.extend((status, retry_after) for _ in range(times))

    def event_ids(self) -> list[str]:
        return [str(event["id"]) for event in self.events]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/punchcard", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _signed(self, body: bytes, header: str) -> bool:
        items = [item.strip().partition("=") for item in header.split(",")]
        stamps = [value for key, _, value in items if key == "t"]
        signatures = [value for key, _, value in items if key == "v1"]
        if not stamps or not stamps[0].isdigit() or not signatures:
            return False
        if abs(time.time() - int(stamps[0])) > TOLERANCE:
            return False
        expected = hmac.new(
            self.secret.encode("utf-8"), stamps[0].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return any(hmac.compare_digest(expected, s) for s in signatures)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        signed = self._signed(body, headers.get("Punchcard-Signature", ""))
        if not signed:
            self.deliveries.append(Delivery(body, headers, signed, 400))
            return web.json_response({"error": "bad signature"}, status=400)
        if self._failures:
            status, retry_after = self._failures.pop(0)
            self.deliveries.append(Delivery(body, headers, signed, status))
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return web.json_response({"error": "scripted failure"}, status=status, headers=extra)
        self.deliveries.append(Delivery(body, headers, signed, 200))
        self.events.append(json.loads(body))
        return web.json_response({"received": True})
