"""A local stand-in for Twilio's Messages REST API (POST /2010-04-01/Accounts/{Sid}/Messages.json).

It checks what the real API checks that we can check offline (HTTP Basic auth with the
account SID and token, form-encoded body, To plus From or MessagingServiceSid, Body) and
answers in Twilio's documented shapes: 201 with the Message resource, or an error body
`{"code", "message", "more_info", "status"}`. Tests script failures ahead of time.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

_sids = itertools.count(1)


@dataclass
class ScriptedFailure:
    status: int
    code: int
    message: str
    retry_after: int | None = None


@dataclass
class TwilioFake:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    messages: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    _failures: list[ScriptedFailure] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    base_url: str = ""

    def fail_next(
        self,
        times: int,
        *,
        status: int = 500,
        code: int = 20500,
        message: str = "Internal Server Error",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` well-formed requests with this error (after the auth check)."""
        self._failures.extend(
            ScriptedFailure(status, code, message, retry_after) for _ in range(times)
        )

    def sent_to(self, phone: str) -> list[str]:
        return [m["Body"] for m in self.messages if m["To"] == phone]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _error(
        self, status: int, code: int, message: str, retry_after: int | None = None
    ) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
            headers=headers,
        )

    async def _create_message(self, request: web.Request) -> web.Response:
        self.attempts += 1
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if (
            request.headers.get("Authorization") != expected
            or request.match_info["sid"] != self.account_sid
        ):
            return self._error(401, 20003, "Authentication Error - invalid username")
        if not request.content_type == "application/x-www-form-urlencoded":
            return self._error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if self._failures:
            failure = self._failures.pop(0)
            return self._error(failure.status, failure.code, failure.message, failure.retry_after)
        if "To" not in form:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if "From" not in form and "MessagingServiceSid" not in form:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        if not form["To"].startswith("+"):
            return self._error(
                400, 21211, f"The 'To' number {form['To']} is not a valid phone number."
            )
        self.messages.append(form)
        sid = f"SM{next(_sids):032x}"
        now = format_datetime(datetime.now(UTC))
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "from": form.get("From"),
                "to": form["To"],
                "body": form["Body"],
                "status": "accepted" if "MessagingServiceSid" in form else "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "num_media": "0",
                "price": None,
                "price_unit": None,
                "error_code": None,
                "error_message": None,
                "api_version": "2010-04-01",
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )
