"""A local stand-in for Zenoti's "Retrieve the list of appointments of a center" endpoint.

GET /v1/appointments?center_id=&start_date=&end_date=[&include_no_show_cancel=true]
with `Authorization: apikey <key>`. It checks what the documentation states (the key, the
three required parameters, at most seven days between the dates, cancelled and no-show
rows only on request, block-outs mixed in) and answers with appointment rows shaped as
public integration code reads them: `appointment_id`, `status` (an integer), `guest`,
`service`, `therapist`, `start_time` (center wall clock) and `start_time_utc`.

`end_date` is taken as exclusive, as one integrator observed live. The body is a bare
list by default; `envelope=True` wraps it as `{"appointments": [...], "page_info": …}`
and pages by `page`/`size`, the shape Zenoti's other list endpoints use.

For write-back, guest notes ("Create a guest note", "Update a guest note"):
`POST /v1/guests/{guest_id}/notes` and `PUT /v1/guests/{guest_id}/notes/{note_id}` with
`notes`, `note_type` (0, 2, 3, 4, 8 or 10), `is_private`, `alert`; the answer is the note
with its `id`. An unknown guest or note is 404. These calls are kept in `note_requests`.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

_ids = itertools.count(1)

NO_SHOW, CANCELLED, NEW, CLOSED, CHECKED_IN, CONFIRMED, BLOCKOUT = -2, -1, 0, 1, 2, 4, 10


@dataclass
class Scripted:
    status: int
    message: str
    retry_after: int | None = None


@dataclass
class ZenotiFake:
    api_key: str = "test-zenoti-key"
    center_utc_offset: timedelta = timedelta(hours=-5)
    envelope: bool = False
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # appointment id -> row
    centers: dict[str, str] = field(default_factory=dict)  # appointment id -> center id
    requests: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    guests: set[str] = field(default_factory=set)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # note id -> note
    note_requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _failures: list[Scripted] = field(default_factory=list)
    _pass_before_failing: int = 0
    _runner: web.AppRunner | None = None

    # --- scripting ------------------------------------------------------------------

    def add(
        self,
        center_id: str,
        *,
        guest_id: str | None,
        start: datetime,
        status: int | str = NEW,
        service_id: str | None = "svc-laser",
        service_name: str = "Laser hair removal",
        therapist_id: str | None = "emp-kim",
        minutes: int = 60,
        appointment_id: str | None = None,
    ) -> str:
        """Book an appointment (start in UTC); returns its id."""
        appointment_id = appointment_id or f"apt-{next(_ids):06d}"
        end = start + timedelta(minutes=minutes)
        local = self.center_utc_offset
        self.rows[appointment_id] = {
            "appointment_id": appointment_id,
            "appointment_segment_id": None,
            "appointment_group_id": f"grp-{appointment_id}",
            "invoice_id": f"inv-{appointment_id}",
            "service": None
            if service_id is None
            else {
                "id": service_id,
                "name": service_name,
                "is_addon": False,
                "has_addons": False,
                "category": {"id": "cat-1", "name": "Aesthetics"},
            },
            "start_time": _wall(start + local),
            "start_time_utc": _wall(start),
            "end_time": _wall(end + local),
            "end_time_utc": _wall(end),
            "status": status,
            "therapist": None
            if therapist_id is None
            else {"id": therapist_id, "first_name": "Kim", "last_name": "Staff"},
            "guest": None
            if guest_id is None
            else {
                "id": guest_id,
                "first_name": "Test",
                "last_name": "Guest",
                "email": f"{guest_id}@example.com",
                "mobile": {"country_id": 225, "number": None, "display_number": "+1 5555550100"},
            },
        }
        self.centers[appointment_id] = center_id
        return appointment_id

    def add_blockout(self, center_id: str, *, start: datetime) -> str:
        appointment_id = self.add(
            center_id, guest_id=None, start=start, status=BLOCKOUT, therapist_id="emp-kim"
        )
        self.rows[appointment_id]["service"] = None
        return appointment_id

    def set_status(self, appointment_id: str, status: int | str) -> None:
        self.rows[appointment_id]["status"] = status

    def fail_next(
        self,
        times: int,
        *,
        status: int = 500,
        message: str = "Internal Server Error",
        after: int = 0,
        retry_after: int | None = None,
    ) -> None:
        """Answer `times` authorised requests with this error, once `after` more succeeded."""
        self._pass_before_failing = after
        self._failures.extend(Scripted(status, message, retry_after) for _ in range(times))

    def windows(self, center_id: str | None = None) -> list[tuple[date, date]]:
        """The (start_date, end_date) of every authorised request, in order."""
        return [
            (date.fromisoformat(r["start_date"]), date.fromisoformat(r["end_date"]))
            for r in self.requests
            if center_id is None or r.get("center_id") == center_id
        ]

    # --- server ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/appointments", self._list)
        app.router.add_post("/v1/guests/{guest}/notes", self._create_note)
        app.router.add_put("/v1/guests/{guest}/notes/{note}", self._update_note)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _error(status: int, message: str, retry_after: int | None = None) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {"error": {"code": str(status), "message": message}}, status=status, headers=headers
        )

    def guest_notes(self, guest_id: str) -> list[str]:
        return [n["notes"] for n in self.notes.values() if n["guest_id"] == guest_id]

    async def _note_call(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Record a note call and say why it is refused, if it is."""
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        self.note_requests.append(
            {
                "method": request.method,
                "path": request.path,
                "body": body,
                "headers": {k.lower(): v for k, v in request.headers.items()},
            }
        )
        if request.headers.get("Authorization") != f"apikey {self.api_key}":
            return body, self._error(401, "Authorization has been denied for this request.")
        if self._failures:
            failure = self._failures.pop(0)
            return body, self._error(failure.status, failure.message, failure.retry_after)
        if request.match_info["guest"] not in self.guests:
            return body, self._error(404, "Guest not found")
        if (problem := _note_problem(body)) is not None:
            return body, self._error(400, problem)
        return body, None

    async def _create_note(self, request: web.Request) -> web.Response:
        body, refused = await self._note_call(request)
        if refused is not None:
            return refused
        note_id = uuid.uuid4().hex
        self.notes[note_id] = {"id": note_id, "guest_id": request.match_info["guest"], **body}
        return web.json_response(self.notes[note_id])

    async def _update_note(self, request: web.Request) -> web.Response:
        body, refused = await self._note_call(request)
        if refused is not None:
            return refused
        note = self.notes.get(request.match_info["note"])
        if note is None or note["guest_id"] != request.match_info["guest"]:
            return self._error(404, "Note not found")
        note.update({k: v for k, v in body.items() if k in ("notes", "note_type", "alert")})
        return web.json_response(note)

    async def _list(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if request.headers.get("Authorization") != f"apikey {self.api_key}":
            return self._error(401, "Authorization has been denied for this request.")
        query = dict(request.query)
        self.requests.append(query)
        if self._failures and self._pass_before_failing > 0:
            self._pass_before_failing -= 1
        elif self._failures:
            failure = self._failures.pop(0)
            return self._error(failure.status, failure.message, failure.retry_after)
        missing = [p for p in ("center_id", "start_date", "end_date") if not query.get(p)]
        if missing:
            return self._error(400, f"{', '.join(missing)} is required")
        try:
            start = date.fromisoformat(query["start_date"])
            end = date.fromisoformat(query["end_date"])
        except ValueError:
            return self._error(400, "start_date and end_date must be dates")
        if end < start or (end - start).days > 7:
            return self._error(
                400, "The difference between start_date and end_date cannot exceed 7 days"
            )
        with_cancelled = query.get("include_no_show_cancel", "").lower() == "true"
        found = [
            row
            for appointment_id, row in sorted(self.rows.items(), key=lambda kv: kv[1]["start_time"])
            if self.centers[appointment_id] == query["center_id"]
            and start <= date.fromisoformat(row["start_time"][:10]) < end
            and (with_cancelled or row["status"] not in (NO_SHOW, CANCELLED))
        ]
        if not self.envelope:
            return web.json_response(found)
        page, size = int(query.get("page", "1")), int(query.get("size", "100"))
        chunk = found[(page - 1) * size : page * size]
        return web.json_response(
            {"appointments": chunk, "page_info": {"total": len(found), "page": page, "size": size}}
        )


NOTE_TYPES = frozenset({0, 2, 3, 4, 8, 10})


def _note_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("notes"), str) or not body["notes"]:
        return "notes is required"
    if body.get("note_type", 0) not in NOTE_TYPES:
        return f"note_type {body.get('note_type')!r} is not valid"
    return None


def _wall(moment: datetime) -> str:
    """Zenoti's times: ISO 8601 without an offset."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
