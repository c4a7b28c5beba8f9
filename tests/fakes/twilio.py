"""A local stand-in for Twilio's Messages REST API (`/2010-04-01/Accounts/{Sid}/Messages.json`).

It checks what the real API checks that we can check offline (HTTP Basic auth with the
account SID and token, form-encoded body, To plus From or MessagingServiceSid, Body) and
answers in Twilio's documented shapes: 201 with the Message resource, or an error body
`{"code", "message", "more_info", "status"}`. Tests script failures ahead of time, including
the one no error body can describe: the message is created but its response never arrives
(the connection drops, or hangs past the client's timeout).

`GET` on the same path lists messages as Twilio does: newest `date_sent` first, filtered by
`To`, `From` and `DateSent` (a UTC day, `YYYY-MM-DD`; the query keys `DateSent<` and
`DateSent>` mean on-or-before and on-or-after, which is how twilio-python sends them, so
on the wire they read `DateSent%3C=…`), paged by `PageSize` (default 50, at most 1000) and
`Page`/`PageToken`, with `next_page_uri` null on the last page. A message with no
`date_sent` yet (still queued) matches no `DateSent` filter.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web

_sids = itertools.count(1)

LossMode = Literal["drop", "hang"]


@dataclass
class ScriptedFailure:
    status: int
    code: int
    message: str
    retry_after: int | None = None


@dataclass
class StoredMessage:
    """One Message resource as Twilio keeps it."""

    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    created: datetime
    sent: datetime | None
    status: str


@dataclass
class TwilioFake:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    # The number a Messaging Service picks from its pool, as Twilio reports it in `from`.
    service_number: str = "+15555550199"
    messages: list[dict[str, str]] = field(default_factory=list)
    stored: list[StoredMessage] = field(default_factory=list)
    attempts: int = 0
    lists: int = 0
    lost: int = 0
    hold_in_queue: bool = False
    _failures: list[ScriptedFailure] = field(default_factory=list)
    _list_failures: list[ScriptedFailure] = field(default_factory=list)
    _losses: list[LossMode] = field(default_factory=list)
    _loss_rate: float = 0.0
    _loss_mode: LossMode = "drop"
    _random: random.Random = field(default_factory=random.Random)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
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

    def fail_next_list(self, times: int, *, status: int = 503, code: int = 20503) -> None:
        """Answer the next `times` list (GET) requests with this error."""
        self._list_failures.extend(
            ScriptedFailure(status, code, "Service Unavailable") for _ in range(times)
        )

    def lose_next(self, times: int, *, mode: LossMode = "drop") -> None:
        """Create the next `times` messages but never answer: drop the connection, or hang."""
        self._losses.extend([mode] * times)

    def lose_responses(self, rate: float, *, seed: int = 0, mode: LossMode = "drop") -> None:
        """From now on, create every message but lose the answer with probability `rate`."""
        self._loss_rate, self._loss_mode = rate, mode
        self._random.seed(seed)

    def seed_message(
        self,
        to: str,
        body: str,
        *,
        created: datetime,
        sent: datetime | None,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> str:
        """A message that exists in the account already (sent earlier, or by someone else)."""
        sid = f"SM{next(_sids):032x}"
        status = "sent" if sent else "queued"
        self.stored.append(
            StoredMessage(sid, to, body, from_, messaging_service_sid, created, sent, status)
        )
        return sid

    def sent_to(self, phone: str) -> list[str]:
        return [m["Body"] for m in self.messages if m["To"] == phone]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._list_messages)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._stopping.set()  # ends hanging answers
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

    def _authorized(self, request: web.Request) -> bool:
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        return (
            request.headers.get("Authorization") == expected
            and request.match_info["sid"] == self.account_sid
        )

    def _resource(self, message: StoredMessage) -> dict[str, Any]:
        return {
            "sid": message.sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": message.messaging_service_sid,
            "from": message.from_,
            "to": message.to,
            "body": message.body,
            "status": message.status,
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": None,
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "date_created": format_datetime(message.created),
            "date_updated": format_datetime(message.sent or message.created),
            "date_sent": format_datetime(message.sent) if message.sent else None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        if not self._authorized(request):
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
        now = datetime.now(UTC)
        service = form.get("MessagingServiceSid")
        message = StoredMessage(
            sid=f"SM{next(_sids):032x}",
            to=form["To"],
            body=form["Body"],
            # Through a service Twilio picks the sender; `from` is set once it has.
            from_=self.service_number if service else form.get("From"),
            messaging_service_sid=service,
            created=now,
            sent=None if self.hold_in_queue else now,
            status="queued" if self.hold_in_queue else "sent",
        )
        self.stored.append(message)
        loss = self._next_loss()
        if loss is not None:
            self.lost += 1
            if loss == "hang":
                await self._stopping.wait()
            if request.transport is not None:
                request.transport.abort()  # the message exists; its answer never arrives
            return web.Response()
        answer = self._resource(message)
        answer["status"] = "accepted" if service else "queued"
        answer["date_sent"], answer["date_updated"] = None, answer["date_created"]
        if service:
            answer["from"] = None
        return web.json_response(answer, status=201)

    def _next_loss(self) -> LossMode | None:
        if self._losses:
            return self._losses.pop(0)
        if self._loss_rate and self._random.random() < self._loss_rate:
            return self._loss_mode
        return None

    async def _list_messages(self, request: web.Request) -> web.Response:
        self.lists += 1
        if not self._authorized(request):
            return self._error(401, 20003, "Authentication Error - invalid username")
        if self._list_failures:
            failure = self._list_failures.pop(0)
            return self._error(failure.status, failure.code, failure.message)
        query = request.query
        try:
            on = _day(query.get("DateSent"))
            before = _day(query.get("DateSent<"))
            after = _day(query.get("DateSent>"))
            size = int(query.get("PageSize", "50"))
            page = int(query.get("Page", "0"))
        except ValueError:
            return self._error(400, 20001, "Invalid DateSent, PageSize or Page")
        if not 1 <= size <= 1000 or page < 0:
            return self._error(400, 20001, "PageSize must be between 1 and 1000")

        def keep(m: StoredMessage) -> bool:
            if "To" in query and m.to != query["To"]:
                return False
            if "From" in query and m.from_ != query["From"]:
                return False
            if on or before or after:
                if m.sent is None:
                    return False
                day = m.sent.astimezone(UTC).date()
                if (on and day != on) or (before and day > before) or (after and day < after):
                    return False
            return True

        found = sorted(
            (m for m in self.stored if keep(m)),
            key=lambda m: (m.sent is not None, m.sent or m.created),
            reverse=True,
        )
        chunk = found[page * size : (page + 1) * size]
        path = request.path
        kept = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}

        def page_uri(n: int) -> str:
            params = {**kept, "PageSize": str(size), "Page": str(n), "PageToken": f"PA{n}"}
            return f"{path}?{urlencode(params)}"

        more = (page + 1) * size < len(found)
        return web.json_response(
            {
                "messages": [self._resource(m) for m in chunk],
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": page_uri(page - 1) if page else None,
                "start": page * size,
                "uri": request.path_qs,
            }
        )


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
