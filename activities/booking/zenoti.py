"""Zenoti's appointment list, read by the poller and turned into `VisitEvent`s.

Endpoint ("Retrieve the list of appointments of a center", docs.zenoti.com)::

    GET {base}/appointments?center_id=&start_date=&end_date=&include_no_show_cancel=true
    Authorization: apikey <key>

Documented: the three required parameters, `include_no_show_cancel` (without it
cancelled and no-show rows are left out), at most seven days between the dates, and
block-out times mixed into the result. Not documented, taken from public integration code
and handled both ways: the body is a bare JSON list (or `{"appointments": [...]}`),
`end_date` is exclusive, and there is no paging (we still send `page`/`size` and follow a
`page_info` if one comes back). Dates are whole days in the center's zone, which we do
not know, so each window is widened by a day on each side; re-reading is harmless.

Status values are unconfirmed: integers (-2 no show, -1 cancelled, 0 new, 1 closed,
2 checked in, 4 confirmed, 10 block-out…) in public code, words in some payloads. Both go
through one configurable table; a value not in it is logged and skipped, never taken for
a completion. The event key is `zenoti:<appointment id>:<change>`, so reading the same
state again is a no-op downstream.

Write-back keeps one guest note per package up to date ("Create a guest note" and
"Update a guest note", docs.zenoti.com): `POST /v1/guests/{guest_id}/notes`, then
`PUT /v1/guests/{guest_id}/notes/{note_id}`, with `notes`, `note_type` (Profile = 10),
`is_private` and `alert`.

Failures (`activities.provider_errors`)::

    ProviderError (ZenotiError is its old name here)
    ├── type "ZenotiUnavailable", retryable     429, 408, 425, 5xx, network, unreadable
    │                                           body; a 429/503 waits for Retry-After
    └── type PROVIDER_REJECTED, non-retryable   any other 4xx (bad key, bad center id…)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr, ValidationError

from activities.provider_errors import (
    ProviderError,
    from_response,
    is_retryable_status,
    scrub,
    send,
    unavailable_type,
)
from workflows.policies import PROVIDER_REJECTED
from workflows.visit_models import Platform, VisitChange, VisitEvent

PROVIDER = "Zenoti"
ZENOTI_UNAVAILABLE = unavailable_type(PROVIDER)
DEFAULT_BASE_URL = "https://api.zenoti.com/v1"
DEFAULT_APPOINTMENTS_PATH = "/appointments"
MAX_DAYS_PER_REQUEST = 7  # documented: start_date to end_date at most seven days
PROFILE_NOTE = 10  # guest note types: Generic 2, Checkin 3, Booking 4, Payment 8, Profile 10

log = logging.getLogger("punchcard.zenoti")

_NUMERIC = re.compile(r"^-?\d+$")
_WHEN_AT_APPOINTMENT = frozenset({VisitChange.COMPLETED, VisitChange.NO_SHOW})

SKIP = "skip"
"""Map a status to this to drop its rows quietly (block-outs, breaks, open slots)."""

DEFAULT_STATUS_MAP: Mapping[str, VisitChange | str] = {
    # Unconfirmed (see module docstring): integer codes from public integration code …
    "-2": VisitChange.NO_SHOW,
    "-1": VisitChange.CANCELLED,
    "0": VisitChange.BOOKED,
    "1": VisitChange.COMPLETED,
    "2": VisitChange.ARRIVED,
    "4": VisitChange.CONFIRMED,
    "10": SKIP,  # block-out / break: no guest, no service
    "11": SKIP,  # "not specified"
    "20": SKIP,  # available slot
    "21": VisitChange.CANCELLED,  # voided
    # … and the words Zenoti shows in its appointment book.
    "closed": VisitChange.COMPLETED,
    "completed": VisitChange.COMPLETED,
    "checkedout": VisitChange.COMPLETED,
    "noshow": VisitChange.NO_SHOW,
    "cancelled": VisitChange.CANCELLED,
    "canceled": VisitChange.CANCELLED,
    "voided": VisitChange.CANCELLED,
    "new": VisitChange.BOOKED,
    "open": VisitChange.BOOKED,
    "booked": VisitChange.BOOKED,
    "tentative": VisitChange.BOOKED,
    "confirmed": VisitChange.CONFIRMED,
    "checkin": VisitChange.ARRIVED,
    "checkedin": VisitChange.ARRIVED,
    "blockout": SKIP,
    "break": SKIP,
}


def status_key(value: object) -> str:
    """One spelling per status: "Checked In", "checked_in" and "CheckedIn" all meet."""
    text = str(value).strip().lower()
    return text if _NUMERIC.match(text) else re.sub(r"[^a-z0-9]", "", text)


def parse_status_map(text: str) -> dict[str, VisitChange | str]:
    """Read overrides such as `"1=completed, 5=arrived, 12=skip"` (for an env variable).

    Raises:
        ValueError: an entry without `=` or naming no known change.
    """
    table: dict[str, VisitChange | str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        status, sep, change = entry.partition("=")
        if not sep or not status.strip():
            raise ValueError(f"Zenoti status map entry {entry!r} is not status=change")
        name = change.strip().lower()
        table[status_key(status)] = SKIP if name == SKIP else VisitChange(name)
    return table


ZenotiError = ProviderError  # the name callers (and the poller's docstring) know


@dataclass(frozen=True)
class AppointmentsPage:
    """One page of a center's appointments, as events, and where the next page starts."""

    visits: list[VisitEvent] = field(default_factory=list)
    appointments: int = 0
    skipped: int = 0
    next_token: str | None = None
    refused: list[tuple[str, str]] = field(default_factory=list)  # (appointment, why)


class ZenotiApi:
    """Reads a center's appointments with an API key; one instance per worker."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | str,
        appointments_path: str = DEFAULT_APPOINTMENTS_PATH,
        status_map: Mapping[str, VisitChange | str] | None = None,
        days_per_request: int = MAX_DAYS_PER_REQUEST,
    ) -> None:
        if not 1 <= days_per_request <= MAX_DAYS_PER_REQUEST:
            raise ValueError(f"days_per_request must be 1..{MAX_DAYS_PER_REQUEST}")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._url = self._base_url + "/" + appointments_path.lstrip("/")
        self._headers = {"Authorization": f"apikey {key}", "Accept": "application/json"}
        self._status_map = {status_key(k): v for k, v in DEFAULT_STATUS_MAP.items()}
        self._status_map.update({status_key(k): v for k, v in (status_map or {}).items()})
        self._days = days_per_request

    async def appointments_page(
        self,
        center_id: str,
        *,
        window_start: datetime,
        window_end: datetime,
        token: str | None,
        size: int = 100,
        observed_at: datetime | None = None,
    ) -> AppointmentsPage:
        """One page of the appointments dated in the window (widened to whole days).

        Pages walk the window in chunks of at most seven days (the API's limit), and
        within a chunk by `page_info` when the API answers with one. Pass the returned
        `next_token` back until it is None.
        """
        first, stop = request_days(window_start, window_end)
        chunk_start, page = _read_token(token, first)
        chunk_end = min(chunk_start + timedelta(days=self._days), stop)
        rows, total = await self._get(center_id, chunk_start, chunk_end, page, size)
        if total is not None and page * size < total and rows:
            next_token: str | None = _token(chunk_start, page + 1)
        elif chunk_end < stop:
            next_token = _token(chunk_end, 1)
        else:
            next_token = None
        seen = observed_at or datetime.now(UTC)
        visits: list[VisitEvent] = []
        refused: list[tuple[str, str]] = []
        skipped = 0
        for row in rows:
            try:
                visit = self.to_visit(row, center_id=center_id, observed_at=seen)
            except ValidationError as err:  # a value no visit may carry: for staff to see
                refused.append((str(row.get("appointment_id")), _problems(err)))
                visit = None
            if visit is None:
                skipped += 1
            else:
                visits.append(visit)
        return AppointmentsPage(
            visits=visits,
            appointments=len(rows),
            skipped=skipped,
            next_token=next_token,
            refused=refused,
        )

    def to_visit(
        self, row: Mapping[str, Any], *, center_id: str, observed_at: datetime
    ) -> VisitEvent | None:
        """One appointment row as a `VisitEvent`, or None (logged) when it is not one.

        Raises:
            ValidationError: a value the visit model refuses (a control character in an id).
        """
        appointment_id = _text(row.get("appointment_id"))
        raw_status = row.get("status")
        change = self._status_map.get(status_key(raw_status)) if raw_status is not None else None
        if change == SKIP:
            return None
        if appointment_id is None:
            log.info("zenoti center %s: a row without appointment_id skipped", center_id)
            return None
        if not isinstance(change, VisitChange):
            log.warning(
                "zenoti appointment %s has unknown status %r: skipped (map it to a change)",
                appointment_id,
                raw_status,
            )
            return None
        guest, service, therapist = _obj(row, "guest"), _obj(row, "service"), _obj(row, "therapist")
        scheduled_at = _utc(row.get("start_time_utc"))
        ended_at = _utc(row.get("end_time_utc")) or scheduled_at
        occurred_at = observed_at
        if change in _WHEN_AT_APPOINTMENT and ended_at is not None:
            occurred_at = min(observed_at, ended_at)
        return VisitEvent(
            event_key=f"zenoti:{appointment_id}:{change.value}",
            platform=Platform.ZENOTI,
            appointment_id=appointment_id,
            change=change,
            external_client_id=_text(guest.get("id")) or _text(row.get("guest_id")),
            service_key=_text(service.get("id")),
            service_name=_text(service.get("name")),
            scheduled_at=scheduled_at,
            service_date=_local_date(row.get("start_time")) or _date_of(scheduled_at),
            provider_id=_text(therapist.get("id")),
            site_id=center_id,
            external_location_id=center_id,
            occurred_at=occurred_at,
            source="poll",
        )

    async def create_guest_note(
        self, guest_id: str, text: str, *, note_type: int = PROFILE_NOTE
    ) -> str:
        """Add a staff-visible note to the guest; returns the new note's id.

        Raises:
            ZenotiError: retryable for transient trouble, PROVIDER_REJECTED otherwise
                (404: no such guest).
        """
        url = f"{self._base_url}/guests/{quote(guest_id, safe='')}/notes"
        response = await self._send("POST", url, _note_body(text, note_type), "the guest note")
        note_id = _note_id(response)
        if note_id is None:
            raise ProviderError(
                PROVIDER,
                f"Zenoti answered {response.status_code} to a new note without its id",
                kind="unavailable",
                http_status=response.status_code,
            )
        return note_id

    async def update_guest_note(
        self, guest_id: str, note_id: str, text: str, *, note_type: int = PROFILE_NOTE
    ) -> None:
        """Replace the text of a note made by `create_guest_note`.

        Raises:
            ZenotiError: retryable for transient trouble, PROVIDER_REJECTED otherwise
                (404: the note or guest is gone).
        """
        url = f"{self._base_url}/guests/{quote(guest_id, safe='')}/notes/{quote(note_id, safe='')}"
        body = {"id": note_id, **_note_body(text, note_type)}
        await self._send("PUT", url, body, "the guest note")

    async def _send(self, method: str, url: str, body: dict[str, Any], what: str) -> httpx.Response:
        response = await send(self._http, PROVIDER, method, url, json=body, headers=self._headers)
        if not response.is_success:
            raise _error_for(response, what)
        return response

    async def _get(
        self, center_id: str, start: date, end: date, page: int, size: int
    ) -> tuple[list[Mapping[str, Any]], int | None]:
        params = {
            "center_id": center_id,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "include_no_show_cancel": "true",
            "page": str(page),
            "size": str(size),
        }
        response = await send(
            self._http, PROVIDER, "GET", self._url, params=params, headers=self._headers
        )
        if not response.is_success:
            raise _error_for(response)
        return _rows(response)


def request_days(window_start: datetime, window_end: datetime) -> tuple[date, date]:
    """The first day and the exclusive last day to ask for, covering any center zone.

    A center's local date is within a day of the UTC date, so one day of margin on each
    side cannot miss an appointment; the extra rows are re-read states, which are no-ops.
    """
    first = window_start.astimezone(UTC).date() - timedelta(days=1)
    stop = window_end.astimezone(UTC).date() + timedelta(days=2)
    return first, stop


def _token(day: date, page: int) -> str:
    return f"{day.isoformat()}/{page}"


def _read_token(token: str | None, first: date) -> tuple[date, int]:
    if token is None:
        return first, 1
    day, _, page = token.partition("/")
    try:
        return date.fromisoformat(day), int(page or "1")
    except ValueError:
        raise ProviderError(
            PROVIDER, f"bad Zenoti page token {token!r}", kind="rejected", type=PROVIDER_REJECTED
        ) from None


def _rows(response: httpx.Response) -> tuple[list[Mapping[str, Any]], int | None]:
    """The appointment rows, bare list or wrapped, and the total when `page_info` says."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    total: int | None = None
    if isinstance(body, dict):
        info = body.get("page_info")
        if isinstance(info, Mapping) and isinstance(info.get("total"), int):
            total = info["total"]
        body = body.get("appointments")
        if body is None:
            body = []
    if not isinstance(body, list):
        raise ProviderError(
            PROVIDER,
            f"Zenoti answered {response.status_code} without an appointment list",
            kind="unavailable",
            http_status=response.status_code,
        )
    return [row for row in body if isinstance(row, Mapping)], total


def _note_body(text: str, note_type: int) -> dict[str, Any]:
    return {"notes": text, "note_type": note_type, "is_private": False, "alert": False}


def _note_id(response: httpx.Response) -> str | None:
    """The note id: top level per the reference, or under `note` as other resources nest."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    for candidate in (body, body.get("note") if isinstance(body, dict) else None):
        if isinstance(candidate, Mapping):
            found = _text(candidate.get("id"))
            if found:
                return found
    return None


def _error_for(response: httpx.Response, what: str = "the appointments request") -> ProviderError:
    """Every refusal, bad credentials included, keeps the PROVIDER_REJECTED type callers
    match (the write-back turns 401/403 into BAD_CONFIGURATION itself)."""
    status = response.status_code
    detail = _error_message(response)
    if is_retryable_status(status):
        return from_response(response, PROVIDER, message=detail)
    hint = " (check PUNCHCARD_ZENOTI_API_KEY and the API package)" if status in (401, 403) else ""
    return ProviderError(
        PROVIDER,
        f"Zenoti refused {what}, {status}: {detail}{hint}",
        kind="rejected",
        http_status=status,
        type=PROVIDER_REJECTED,
    )


def _error_message(response: httpx.Response) -> str:
    """Zenoti's `{"error": {"code", "message"}}` body when there is one; never the key."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.reason_phrase or "no error body"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return scrub(str(error["message"]))[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return scrub(str(body["message"]))[:200]
    return response.reason_phrase or "no error message"


def _obj(row: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = row.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _utc(value: object) -> datetime | None:
    """Zenoti's `*_utc` times carry no offset: they are UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _local_date(value: object) -> date | None:
    """The center-local date of `start_time` (a wall-clock time without offset)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _date_of(moment: datetime | None) -> date | None:
    return None if moment is None else moment.date()


def _problems(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
